"""A batch's tasks ending, counted by the table stream (the events function's counting mapping): the batch's
counters move atomically, once per finished attempt (a marker item); a progress event at most every
PROGRESS_SECONDS; the fan-out continued when it waits for capacity; the batch finalised when its last line ends.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from spoonfeeder import ids
from spoonfeeder.catalog.money import to_micros
from spoonfeeder.data import queues
from spoonfeeder.data.batches import BatchStore, batch_key
from spoonfeeder.data.items import to_item, to_value
from spoonfeeder.models.kinds import TERMINAL

PROGRESS_SECONDS = 2.0
MARKER_TTL_SECONDS = 30 * 24 * 3600
_FINISHED = frozenset(str(s) for s in TERMINAL)
_COUNTER = {"succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled"}


def finished_in_batch(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """The task item of a batch's task that just finished an attempt (plain images), or None."""
    if not old or not new or new.get("entity") != "task" or not new.get("batch_id"):
        return None
    if new.get("status") not in _FINISHED or old.get("status") in _FINISHED:
        return None
    return new


def ended(batch: dict[str, Any]) -> int:
    return sum(int(batch.get(name) or 0) for name in ("succeeded", "failed", "cancelled"))


def counters(batch: dict[str, Any]) -> dict[str, Any]:
    shown = {name: int(batch.get(name) or 0) for name in (
        "total", "rejected", "created", "in_flight", "succeeded", "failed", "cancelled", "input_tokens",
        "output_tokens")}
    shown["cost_usd"] = int(batch.get("cost_micros") or 0) / 1_000_000
    return shown


def count(batches: BatchStore, task: dict[str, Any], batch_queue_url: str) -> bool:
    """Count one finished attempt of a batch's task; False when it was counted before."""
    result = task.get("result") or {}
    usage = result.get("usage") or {}
    adds = {_COUNTER[str(task["status"])]: 1, "in_flight": -1,
            "input_tokens": int(usage.get("input_tokens") or 0), "output_tokens": int(usage.get("output_tokens") or 0),
            "cost_micros": to_micros(result["cost_usd"]) if result.get("cost_usd") is not None else 0}
    marker = {"pk": f"BATCH#{task['batch_id']}", "sk": f"COUNTED#{task['id']}#{task.get('attempt') or 1}",
              "entity": "batch_count_mark", "ttl": int(ids.now().timestamp()) + MARKER_TTL_SECONDS}
    try:
        batches.ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": batches.table, "Item": to_item(marker),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {"TableName": batches.table, "Key": batch_key(str(task["batch_id"])),
                        "UpdateExpression": "ADD " + ", ".join(f"#{k} :{k}" for k in adds),
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeNames": {f"#{k}": k for k in adds},
                        "ExpressionAttributeValues": {f":{k}": to_value(v) for k, v in adds.items()}}}])
    except batches.ddb.exceptions.TransactionCanceledException:
        return False
    batch = batches.get(str(task["batch_id"]))
    if batch is not None:
        after_count(batches, batch, batch_queue_url)
    return True


def after_count(batches: BatchStore, batch: dict[str, Any], batch_queue_url: str) -> None:
    """What a batch's new counts call for: the fan-out continued, the batch finalised, a progress event."""
    if batch.get("waiting") and int(batch.get("in_flight") or 0) < int(batch["max_concurrency"]) \
            and batches.update(batch["id"], {"waiting": False}, condition="#waiting = :yes", values={":yes": True}):
        queues.send_json(batch_queue_url, json.dumps({"batch_id": batch["id"], "continue": True}))
    if not maybe_finalize(batches, batch, batch_queue_url):
        progress(batches, batch)


def maybe_finalize(batches: BatchStore, batch: dict[str, Any], batch_queue_url: str) -> bool:
    """Every line read (or the batch cancelled) and every task it made ended: its output is asked for, once (a
    running batch moves to `finalizing`; a cancelling one is marked)."""
    if batch.get("status") not in ("running", "cancelling") or ended(batch) < int(batch.get("created") or 0):
        return False
    if batch["status"] == "running":
        moved = batches.update(batch["id"], {"status": "finalizing", "updated_at": ids.now_iso()},
                               condition="#status = :running", values={":running": "running"})
    else:
        moved = batches.update(batch["id"], {"finalize_asked": True}, condition="attribute_not_exists(#finalize_asked)")
    if moved is None:
        return False
    queues.send_json(batch_queue_url, json.dumps({"batch_id": batch["id"], "finalize": True}))
    return True


def progress(batches: BatchStore, batch: dict[str, Any]) -> None:
    """A `batch:progress` event, unless one was recorded in the last PROGRESS_SECONDS (a conditional claim)."""
    now = ids.now()
    cutoff = ids.iso(now - timedelta(seconds=PROGRESS_SECONDS))
    claimed = batches.update(batch["id"], {"progress_at": ids.iso(now)},
                             condition="(attribute_not_exists(#progress_at) OR #progress_at < :cutoff)",
                             values={":cutoff": cutoff})
    if claimed is not None:
        batches.record_event(claimed, "batch:progress", counters(claimed))
