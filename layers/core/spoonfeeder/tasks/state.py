"""The task state machine, as pure rules: which status may follow which, and which event records it."""

from __future__ import annotations

from collections.abc import Callable

from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import Task

S = TaskStatus

# A running task may be "started" again only by a delivery that finds its lease expired (a dead worker).
# Create and retry write a task already queued; `pending` is kept for items written before that.
ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.PENDING: frozenset({S.QUEUED, S.CANCELLED, S.FAILED}),
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED, S.FAILED}),
    S.RUNNING: frozenset({S.RUNNING, S.RETRYING, S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.RETRYING: frozenset({S.RUNNING, S.CANCELLED, S.FAILED}),
    S.FAILED: frozenset({S.QUEUED}),
    S.CANCELLED: frozenset({S.QUEUED}),
    S.SUCCEEDED: frozenset(),
}

EVENT_OF: dict[TaskStatus, EventType] = {
    S.PENDING: EventType.CREATED,
    S.QUEUED: EventType.QUEUED,
    S.RUNNING: EventType.STARTED,
    S.RETRYING: EventType.RETRYING,
    S.SUCCEEDED: EventType.COMPLETED,
    S.FAILED: EventType.FAILED,
    S.CANCELLED: EventType.CANCELLED,
}

CANCELLABLE = frozenset({S.PENDING, S.QUEUED, S.RUNNING, S.RETRYING})
RETRYABLE_BY_USER = frozenset({S.FAILED, S.CANCELLED})


def can_move(task: Task, to: TaskStatus, *, now_iso: str) -> bool:
    """True when `task` may move to `to` now; running → running needs an expired lease."""
    if to not in ALLOWED[task.status]:
        return False
    if task.status is S.RUNNING and to is S.RUNNING:
        return task.lease_until is not None and task.lease_until < now_iso
    return True


def can_start(task: Task, *, attempt: int, now_iso: str) -> bool:
    """A queue message for `attempt` may start the task: same attempt, and a status that allows running."""
    return task.attempt == attempt and can_move(task, S.RUNNING, now_iso=now_iso)


def lease_held(task: Task, *, attempt: int, now_iso: str) -> bool:
    """Another run of this attempt is under way and its lease is not over: a delivery must wait, not run."""
    return (task.attempt == attempt and task.status is S.RUNNING and task.lease_until is not None
            and task.lease_until >= now_iso)


def is_takeover(task: Task) -> bool:
    """Starting `task` now takes over a run whose worker was lost (its lease expired)."""
    return task.status is S.RUNNING


def transition(
    to: TaskStatus,
    *,
    now_iso: str,
    updates: dict[str, object] | None = None,
    guard: Callable[[Task], bool] | None = None,
) -> Callable[[Task], Task | None]:
    """A change for TaskStore.record: move to `to` (with `updates`) if the rules and `guard` allow it."""

    def change(task: Task) -> Task | None:
        if not can_move(task, to, now_iso=now_iso) or (guard is not None and not guard(task)):
            return None
        task.status = to
        for name, value in (updates or {}).items():
            setattr(task, name, value)
        return task

    return change
