"""Cancelling a batch: the fan-out stops (its next chunk's condition fails on the status), the tasks that have not
run yet are cancelled (by the batches function: a batch may hold thousands), the ones running finish, and then
the output is written with what ran."""

from __future__ import annotations

from typing import Any

from spoonfeeder import ids
from spoonfeeder.batches.output import rows
from spoonfeeder.batches.progress import maybe_finalize
from spoonfeeder.data.batches import BatchStore
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.tasks.state import transition

NOT_STARTED = frozenset({"pending", "queued", "retrying"})


def cancel_waiting_tasks(batches: BatchStore, tasks: TaskStore, batch_id: str, batch_queue_url: str) -> int:
    """Cancel every task of the batch that has not started; how many. The stream counts each as cancelled."""
    cancelled = 0
    for row in rows(batches, batch_id):
        if row.get("entity") != "task" or row.get("status") not in NOT_STARTED:
            continue
        change = transition(TaskStatus.CANCELLED, now_iso=ids.now_iso(),
                            updates={"completed_at": ids.now_iso(), "lease_until": None},
                            guard=lambda t: str(t.status) in NOT_STARTED)
        if tasks.record(str(row["id"]), EventType.CANCELLED, {"by": "batch"}, change=change):
            cancelled += 1
    batch = batches.get(batch_id)
    if batch is not None:
        maybe_finalize(batches, batch, batch_queue_url)  # nothing was left in flight
    return cancelled


def ask_cancel(batches: BatchStore, batch: dict[str, Any]) -> dict[str, Any] | None:
    """Move the batch to `cancelling` (from fanning out or running; one awaiting its upload is cancelled at once);
    None when it has ended already."""
    if batch["status"] == "awaiting_upload":
        return batches.update(batch["id"], {"status": "cancelled", "completed_at": ids.now_iso()},
                              condition="#status = :awaiting", values={":awaiting": "awaiting_upload"})
    return batches.update(batch["id"], {"status": "cancelling", "updated_at": ids.now_iso()},
                          condition="#status IN (:fanning, :running)",
                          values={":fanning": "fanning_out", ":running": "running"})
