"""LLM worker function: runs each llm-tasks message; failed ones come back later (partial batch response)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import settings
from spoonfeeder.data import queues
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.settings import WorkerSettings
from spoonfeeder.tasks.runner import Delivery, TextTaskRunner

logger = Logger()
config = settings.load(WorkerSettings)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
runner: TextTaskRunner | None = None


def run_record(record: SQSRecord) -> str:
    assert runner is not None
    queue_url = queues.url_of(record.event_source_arn)
    delivery = Delivery(
        message=TaskMessage.model_validate_json(record.body),
        receive_count=int(record.attributes.approximate_receive_count),
        postpone=lambda seconds: queues.delay_redelivery(queue_url, record.receipt_handle, seconds),
    )
    return runner.run(delivery)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global runner
    if runner is None:
        # A run may not outlive the invocation: after that, another delivery may take the task over.
        lease = max(1, context.get_remaining_time_in_millis() // 1000)
        runner = TextTaskRunner(TaskStore(config.table_name), config, lease_seconds=lease)
    return process_partial_response(event=event, record_handler=run_record, processor=processor, context=context)
