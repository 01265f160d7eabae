"""Handing a task to its lane: send its queue message, then mark it queued.

Three places do this — the API on create and retry, the sweeper for tasks a crashed create left pending,
and a worker whose message overtook the mark — and whichever marks first records the one `task:queued`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spoonfeeder import ids
from spoonfeeder.data import queues
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.models.tasks import Task, TaskStatus
from spoonfeeder.tasks import routing
from spoonfeeder.tasks.state import transition


def send(queue_urls: Mapping[routing.Lane, str], task: Task, *, trace_id: str | None = None) -> routing.Lane:
    """Send the message for the task's current attempt to its lane's queue; raises if SQS refuses."""
    lane = routing.lane_for(task.type, task.provider)
    queues.send_task(queue_urls[lane], TaskMessage(task_id=task.id, owner=task.owner, attempt=task.attempt,
                                                   trace_id=trace_id))
    return lane


def mark_queued(store: TaskStore, task: Task, *, by: str, lane: routing.Lane | None = None) -> Task:
    """pending → queued for this attempt, if nobody did it yet (or a cancel came first); returns the task now."""
    data: dict[str, Any] = {"attempt": task.attempt, "by": by}
    if lane is not None:
        data["lane"] = str(lane)
    change = transition(TaskStatus.QUEUED, now_iso=ids.now_iso(), guard=lambda t: t.attempt == task.attempt)
    moved = store.record(task.id, EventType.QUEUED, data, change=change)
    return moved[0] if moved else store.get(task.id) or task
