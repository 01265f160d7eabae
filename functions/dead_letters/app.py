"""Dead letters function: each dead-lettered message is kept in the table, then its task fails (RETRIES_EXHAUSTED)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import settings, snapstart
from spoonfeeder.data.dead_letters import DeadLetter, DeadLetterArchive
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.settings import CoreSettings
from spoonfeeder.tasks import dead_letters

logger = Logger()
config = settings.load(CoreSettings)
store = TaskStore(config.table_name)
archive = DeadLetterArchive(config.table_name)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
snapstart.prepare()  # SnapStart: the table client is ready in the snapshot


def letter_of(record: SQSRecord) -> DeadLetter:
    attributes = record.attributes
    return DeadLetter(
        queue=record.event_source_arn.rsplit(":", 1)[-1], message_id=record.message_id, body=record.body,
        sent_timestamp=attributes.sent_timestamp,
        first_receive_timestamp=attributes.approximate_first_receive_timestamp,
        receive_count=int(attributes.approximate_receive_count or 0),
        message_attributes={name: str(value.string_value) for name, value in record.message_attributes.items()
                            if value.string_value is not None})


def keep_and_fail(record: SQSRecord) -> None:
    outcome = dead_letters.handle(store, archive, letter_of(record))
    if outcome.task_id is None:
        logger.error("unreadable dead letter kept", extra={"message_id": record.message_id})
    else:
        logger.info("dead letter kept", extra={"task_id": outcome.task_id, "failed_now": outcome.failed_now,
                                               "kept_now": outcome.kept_now})


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=keep_and_fail, processor=processor, context=context)
