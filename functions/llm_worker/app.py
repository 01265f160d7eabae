"""LLM worker function: runs each llm-tasks message; failed ones come back later (partial batch response)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError
from spoonfeeder import settings
from spoonfeeder.data import queues
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.settings import WorkerSettings
from spoonfeeder.tasks.runner import Delivery, TextTaskRunner

logger = Logger()
config = settings.load(WorkerSettings)
store = TaskStore(config.table_name)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def delivery_of(record: SQSRecord) -> Delivery:
    queue_url = config.llm_tasks_queue_url
    try:
        message = TaskMessage.model_validate_json(record.body)
    except ValidationError:
        # No attempt can ever read it: let it come straight back until SQS moves it to the dead-letter queue.
        logger.error("unreadable task message", extra={"message_id": record.message_id})
        queues.delay_redelivery(queue_url, record.receipt_handle, 0)
        raise
    return Delivery(
        message=message,
        receive_count=int(record.attributes.approximate_receive_count),
        postpone=lambda seconds: queues.delay_redelivery(queue_url, record.receipt_handle, seconds),
    )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A run may not outlive this invocation: once it is over, another delivery may take the task over.
    lease = max(1, context.get_remaining_time_in_millis() // 1000)
    runner = TextTaskRunner(store, config, lease_seconds=lease)
    return process_partial_response(event=event, record_handler=lambda record: runner.run(delivery_of(record)),
                                    processor=processor, context=context)
