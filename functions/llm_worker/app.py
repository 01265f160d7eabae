"""LLM worker function: runs each llm-tasks message; failed ones come back later (partial batch response).

A heartbeat keeps the messages this invocation still holds hidden for a short lease, and a message it has
no time left to run is handed back at once (tasks/lease.py explains why).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import batch, settings, snapstart
from spoonfeeder.data import queues
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.messages import InvalidMessage, TaskMessage
from spoonfeeder.providers import credentials, registry
from spoonfeeder.settings import WorkerSettings
from spoonfeeder.tasks.lease import Heartbeat
from spoonfeeder.tasks.routing import Lane
from spoonfeeder.tasks.runner import CloudProviders, Delivery, RetryLater, TextTaskRunner

logger = Logger()
config = settings.load(WorkerSettings)
store = TaskStore(config.table_name, config.bucket_name)
runner = TextTaskRunner(store, config, CloudProviders(config), Lane.LLM, config.llm_tasks_queue_url)
# SnapStart: the clients, the secret reader and the provider SDKs (each otherwise imported on first use) are in
# the snapshot.
snapstart.prepare("sqs", "s3", "kms", modules=(credentials.PARAMETERS_MODULE, *registry.PRELOAD_MODULES))


def handle(record: batch.Record, heartbeat: Heartbeat, remaining_seconds: Callable[[], float]) -> str:
    queue_url, message_id = config.llm_tasks_queue_url, record["messageId"]

    def postpone(seconds: int) -> None:
        heartbeat.release(message_id, lambda: queues.delay_redelivery(queue_url, record["receiptHandle"], seconds))

    try:
        message = TaskMessage.from_json(record["body"])
    except InvalidMessage:
        # No attempt can ever read it: let it come straight back until SQS moves it to the dead-letter queue.
        logger.error("unreadable task message", extra={"message_id": message_id})
        postpone(0)
        raise
    if remaining_seconds() < config.min_seconds_to_start:
        postpone(0)  # not enough time left to run it here: visible again at once for another invocation
        raise RetryLater("NO_TIME_LEFT")
    delivery = Delivery(message=message, receive_count=int(record["attributes"]["ApproximateReceiveCount"]),
                        postpone=postpone, track=heartbeat.running)
    try:
        return runner.run(delivery)
    finally:
        heartbeat.release(message_id)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    heartbeat = Heartbeat(store, lambda handles, seconds: queues.keep_hidden(config.llm_tasks_queue_url, handles,
                                                                             seconds),
                          lease_seconds=config.lease_seconds, every_seconds=config.heartbeat_seconds)
    for record in event.get("Records", []):
        heartbeat.hold(record["messageId"], record["receiptHandle"])
    with heartbeat:
        return batch.process(
            event.get("Records", []), item_id=batch.sqs_message_id,
            handle=lambda record: handle(record, heartbeat, lambda: context.get_remaining_time_in_millis() / 1000))
