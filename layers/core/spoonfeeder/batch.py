"""Partial batch responses for the SQS and DynamoDB stream event sources (`ReportBatchItemFailures`).

Each record is handled on its own; the records that raised are reported as `batchItemFailures`, so only they
come back. Powertools' BatchProcessor does the same, but importing it loads asyncio and every one of its event
data classes, about 35 ms of CPU at each cold start (a sixth of a worker's whole import), for what is this loop
here: the functions use neither its async, FIFO nor parser modes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(child=True)

Record = dict[str, Any]


class EntireBatchFailed(Exception):
    """Every record failed: raised (when asked) so the event source retries the batch as a whole."""


def sqs_message_id(record: Record) -> str:
    return str(record["messageId"])


def stream_sequence_number(record: Record) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def process(records: Iterable[Record], handle: Callable[[Record], object], *, item_id: Callable[[Record], str],
            raise_if_all_fail: bool = False) -> dict[str, list[dict[str, str]]]:
    """Run `handle` on each record; the answer lists the failed ones by `item_id`."""
    handled, failures = 0, []
    for record in records:
        handled += 1
        try:
            handle(record)
        except Exception:
            logger.warning("record failed; it comes back", extra={"item": item_id(record)}, exc_info=True)
            failures.append({"itemIdentifier": item_id(record)})
    if raise_if_all_fail and handled and len(failures) == handled:
        raise EntireBatchFailed(f"all {handled} records failed")
    return {"batchItemFailures": failures}
