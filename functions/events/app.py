"""Events function: the table stream's records, each to its one job.

- an event item (INSERT) is pushed to the sockets watching it;
- a task item that finished with usage (MODIFY) is added to its owner's usage counters.

The two kinds reach it through two event source mappings on the same stream, each filtered to its kind, so
each keeps its own checkpoint: a usage write that fails is retried (counting is idempotent) without pushing
any event twice, and a push that fails never holds usage back.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import settings, snapstart
from spoonfeeder.data.items import from_item
from spoonfeeder.data.usage import UsageStore
from spoonfeeder.realtime.connections import ConnectionStore
from spoonfeeder.realtime.fanout import FanOut, event_from_image
from spoonfeeder.realtime.pusher import Pusher
from spoonfeeder.settings import EventsSettings
from spoonfeeder.usage.counting import usage_of_transition

logger = Logger()
config = settings.load(EventsSettings)
connections = ConnectionStore(config.table_name)
usage = UsageStore(config.table_name)
pusher = Pusher(config.ws_management_url)
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
snapstart.prepare()  # SnapStart: the table and @connections clients are ready in the snapshot


def _count(record: DynamoDBRecord) -> None:
    images = record.raw_event["dynamodb"]
    counted = usage_of_transition(from_item(images.get("OldImage") or {}), from_item(images.get("NewImage") or {}))
    if counted is not None and not usage.add(counted):
        logger.info("usage already counted; replay ignored", extra={"task_id": counted.task_id})


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    fanout = FanOut(connections, pusher)  # per batch: caches subscriber look-ups for this batch only

    def handle(record: DynamoDBRecord) -> None:
        entity = (record.raw_event["dynamodb"].get("NewImage") or {}).get("entity", {}).get("S")
        if entity == "event":
            fanout.push(*event_from_image(record.raw_event["dynamodb"]["NewImage"]))
        elif entity == "task":
            _count(record)

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
