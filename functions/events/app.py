"""Events function: the table stream's records, each to its one job.

- an event item (INSERT) is pushed to the sockets watching it;
- a task item that finished (MODIFY) is added to its owner's usage counters, a generation to its ComfyUI
  session's counters, and a batch's task to its batch's (which may continue its fan-out or finalise it).

The two kinds reach it through two event source mappings on the same stream, each filtered to its kind, so
each keeps its own checkpoint: a usage write that fails is retried (counting is idempotent) without pushing
any event twice, and a push that fails never holds usage back.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from spoonfeeder import batch, settings, snapstart
from spoonfeeder.batches import progress as batch_progress
from spoonfeeder.batches.progress import finished_in_batch
from spoonfeeder.data.batches import BatchStore
from spoonfeeder.data.comfyui import count_finished
from spoonfeeder.data.items import from_item
from spoonfeeder.data.usage import UsageStore
from spoonfeeder.realtime.connections import ConnectionStore
from spoonfeeder.realtime.fanout import FanOut, event_from_image
from spoonfeeder.realtime.pusher import Pusher
from spoonfeeder.settings import EventsSettings
from spoonfeeder.usage.counting import finished_in_session, usage_of_transition

logger = Logger()
config = settings.load(EventsSettings)
connections = ConnectionStore(config.table_name)
usage = UsageStore(config.table_name)
batches = BatchStore(config.table_name)
pusher = Pusher(config.ws_management_url)
snapstart.prepare()  # SnapStart: the table and @connections clients are ready in the snapshot


def _count(record: batch.Record) -> None:
    images = record["dynamodb"]
    old, new = from_item(images.get("OldImage") or {}), from_item(images.get("NewImage") or {})
    counted = usage_of_transition(old, new)
    if counted is not None and not usage.add(counted):
        logger.info("usage already counted; replay ignored", extra={"task_id": counted.task_id})
    finished = finished_in_batch(old, new)
    if finished is not None and not batch_progress.count(batches, finished, config.batch_files_queue_url):
        logger.info("batch task already counted", extra={"task_id": finished["id"]})
    generation = finished_in_session(old, new)
    if generation is not None and not count_finished(config.table_name, *generation):
        logger.info("generation already counted (or its session is gone)", extra={"task_id": generation[2]})


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    fanout = FanOut(connections, pusher)  # per batch: caches subscriber look-ups for this batch only

    def handle(record: batch.Record) -> None:
        image = record["dynamodb"].get("NewImage") or {}
        entity = image.get("entity", {}).get("S")
        if entity == "event":
            fanout.push(*event_from_image(image))
        elif entity == "task":
            _count(record)

    # Every record failing is most likely an outage (of the table or the sockets' API): the whole batch retries.
    return batch.process(event.get("Records", []), handle, item_id=batch.stream_sequence_number,
                         raise_if_all_fail=True)
