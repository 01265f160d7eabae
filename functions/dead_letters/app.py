"""Dead letters function: a task message that exhausted its deliveries fails its task (RETRIES_EXHAUSTED)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError
from spoonfeeder import settings
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.settings import CoreSettings
from spoonfeeder.tasks.runner import fail_exhausted

logger = Logger()
config = settings.load(CoreSettings)
store = TaskStore(config.table_name)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def fail_task(record: SQSRecord) -> None:
    try:
        message = TaskMessage.model_validate_json(record.body)
    except ValidationError:
        # A poison message names no task we could fail; keep it out of the retry loop, but say so.
        logger.error("unreadable dead letter dropped", extra={"message_id": record.message_id})
        return
    failed = fail_exhausted(store, message)
    logger.info("dead letter handled", extra={"task_id": message.task_id, "failed_now": failed})


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=fail_task, processor=processor, context=context)
