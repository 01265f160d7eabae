"""Dead letters function: each dead-lettered message is kept in the table, then its task fails (RETRIES_EXHAUSTED)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import batch, settings, snapstart
from spoonfeeder.data.dead_letters import DeadLetter, DeadLetterArchive
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.settings import CoreSettings
from spoonfeeder.tasks import dead_letters

logger = Logger()
config = settings.load(CoreSettings)
store = TaskStore(config.table_name)
archive = DeadLetterArchive(config.table_name)
snapstart.prepare()  # SnapStart: the table client is ready in the snapshot


def letter_of(record: batch.Record) -> DeadLetter:
    attributes = record.get("attributes") or {}
    return DeadLetter(
        queue=record["eventSourceARN"].rsplit(":", 1)[-1], message_id=record["messageId"], body=record["body"],
        sent_timestamp=attributes["SentTimestamp"],
        first_receive_timestamp=attributes.get("ApproximateFirstReceiveTimestamp"),
        receive_count=int(attributes.get("ApproximateReceiveCount") or 0),
        message_attributes={name: str(value["stringValue"])
                            for name, value in (record.get("messageAttributes") or {}).items()
                            if value.get("stringValue") is not None})


def keep_and_fail(record: batch.Record) -> None:
    outcome = dead_letters.handle(store, archive, letter_of(record))
    if outcome.task_id is None:
        logger.error("unreadable dead letter kept", extra={"message_id": record["messageId"]})
    else:
        logger.info("dead letter kept", extra={"task_id": outcome.task_id, "failed_now": outcome.failed_now,
                                               "kept_now": outcome.kept_now})


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return batch.process(event.get("Records", []), keep_and_fail, item_id=batch.sqs_message_id)
