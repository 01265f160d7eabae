"""Events function: every event item the table stream reports is pushed to the sockets watching it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import batch, settings, snapstart
from spoonfeeder.realtime.connections import ConnectionStore
from spoonfeeder.realtime.fanout import FanOut, event_from_image
from spoonfeeder.realtime.pusher import Pusher
from spoonfeeder.settings import EventsSettings

logger = Logger()
config = settings.load(EventsSettings)
connections = ConnectionStore(config.table_name)
pusher = Pusher(config.ws_management_url)
snapstart.prepare()  # SnapStart: the table and @connections clients are ready in the snapshot


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    fanout = FanOut(connections, pusher)  # per batch: caches subscriber look-ups for this batch only

    def push(record: batch.Record) -> None:
        image = record["dynamodb"].get("NewImage")
        if image and image.get("entity", {}).get("S") == "event":
            fanout.push(*event_from_image(image))

    # Every record failing is most likely an outage (of the table or the sockets' API): the whole batch retries.
    return batch.process(event.get("Records", []), push, item_id=batch.stream_sequence_number, raise_if_all_fail=True)
