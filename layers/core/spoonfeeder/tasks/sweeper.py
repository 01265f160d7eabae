"""The sweeper: no task stays pending forever, and no run outlives its worker.

- Create writes the task, then sends its message, then marks it queued. If the process dies after the write
  and before the send, nothing would ever run the task; the sweeper sends it again once it has been pending
  for a grace period.
- A worker that dies mid-run leaves its task `running` and its message in flight until the queue's visibility
  timeout (minutes). Once the run's lease is over — a lease never outlives its invocation — the sweeper sends
  a new message and marks the task `retrying`, so another worker takes it over within a sweep.

A duplicate message (the old one returning, or a send that happened before a crash) is harmless: a delivery
starts a run only from a status that allows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from spoonfeeder import ids
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.tasks import Task, TaskStatus
from spoonfeeder.tasks import dispatch, routing
from spoonfeeder.tasks.state import transition

logger = Logger(child=True)


@dataclass
class Swept:
    requeued: list[str] = field(default_factory=list)  # pending tasks sent again
    recovered: list[str] = field(default_factory=list)  # runs whose worker was lost


def sweep(
    store: TaskStore, queue_urls: Mapping[routing.Lane, str], *, grace_seconds: int, now: datetime | None = None,
) -> Swept:
    """Re-send tasks pending since before the grace period and runs whose lease is over."""
    moment = now or ids.now()
    now_iso, cutoff = ids.iso(moment), ids.iso(moment - timedelta(seconds=grace_seconds))
    swept = Swept()
    for task_id in store.active_ids(updated_before=cutoff):
        task = store.get(task_id)
        if task is None or task.updated_at >= cutoff:
            continue
        if task.status is TaskStatus.PENDING and _send(queue_urls, task):
            dispatch.mark_queued(store, task, by="sweeper")
            swept.requeued.append(task_id)
        elif _lost(task, now_iso) and _send(queue_urls, task):
            change = transition(TaskStatus.RETRYING, now_iso=now_iso, updates={"lease_until": None},
                                guard=lambda t, attempt=task.attempt: _lost(t, now_iso) and t.attempt == attempt)
            data = {"attempt": task.attempt, "reason": "the worker running it was lost", "by": "sweeper"}
            if store.record(task_id, EventType.RETRYING, data, change=change):
                swept.recovered.append(task_id)
    for kind, found in (("pending", swept.requeued), ("lost run", swept.recovered)):
        if found:
            logger.warning(f"re-sent {len(found)} task(s): {kind}", extra={"task_ids": found})
    return swept


def _lost(task: Task, now_iso: str) -> bool:
    return task.status is TaskStatus.RUNNING and task.lease_until is not None and task.lease_until < now_iso


def _send(queue_urls: Mapping[routing.Lane, str], task: Task) -> bool:
    try:
        dispatch.send(queue_urls, task)
    except Exception:  # the next sweep tries again
        logger.exception("could not re-send a task", extra={"task_id": task.id})
        return False
    return True
