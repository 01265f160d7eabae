"""The sweeper: no task waits forever for a message that is gone, and no run outlives its worker.

- Create (and retry) writes the task already queued, then sends its message. If the process dies in
  between, or a message is lost, nothing would run the task: a task still queued (or retrying past its
  backoff) a grace period after its last change is sent again. Each re-send doubles the wait before the
  next one (`due_at`), so a long queue backlog is not flooded with duplicates.
- A model operation waits in its agent's inbox rather than on a queue: it is put there again the same way,
  unless that agent is no longer live (its heartbeats stopped): then the task fails AGENT_LOST, since no other
  agent may run it.
- A worker that dies mid-run leaves its task `running`. Its message comes back within the worker's lease
  and takes the run over; should that message be gone too, the sweeper sends a new one once the lease is
  over and marks the task `retrying`. Each lost run counts (`lost_runs`); at the budget the task fails
  WORKER_LOST.

A duplicate message is harmless: a delivery starts a run only from a status that allows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from spoonfeeder import ids
from spoonfeeder.data.agents import AgentRegistry
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import Task
from spoonfeeder.tasks import dispatch, routing
from spoonfeeder.tasks.lease import fail_worker_lost, out_of_lost_runs
from spoonfeeder.tasks.state import transition

logger = Logger(child=True)

WAITING = frozenset({TaskStatus.PENDING, TaskStatus.QUEUED, TaskStatus.RETRYING})
AGENT_LOST = "AGENT_LOST"


@dataclass
class Swept:
    requeued: list[str] = field(default_factory=list)  # waiting tasks sent again
    recovered: list[str] = field(default_factory=list)  # runs whose worker was lost, sent again
    worker_lost: list[str] = field(default_factory=list)  # runs lost too often: failed WORKER_LOST
    agent_lost: list[str] = field(default_factory=list)  # model operations whose agent is gone: failed AGENT_LOST


def sweep(
    store: TaskStore, destinations: dispatch.Destinations, *, grace_seconds: int, max_lost_runs: int = 3,
    now: datetime | None = None,
) -> Swept:
    """Re-send waiting tasks past the grace period and runs whose lease is over."""
    moment = now or ids.now()
    now_iso, cutoff = ids.iso(moment), ids.iso(moment - timedelta(seconds=grace_seconds))
    swept = Swept()
    for task_id in store.active_ids(due_before=cutoff):
        task = store.get(task_id)
        if task is None:
            continue
        if task.status in WAITING and (task.due_at or task.updated_at) < cutoff:
            if _agent_gone(destinations, task):
                if _fail_agent_lost(store, task, now_iso):
                    swept.agent_lost.append(task_id)
            elif _send(destinations, task) and _resent(store, task, moment, grace_seconds):
                swept.requeued.append(task_id)
        elif _lost(task, now_iso):
            if out_of_lost_runs(task, max_lost_runs):
                if fail_worker_lost(store, task, max_lost_runs=max_lost_runs, by="sweeper"):
                    swept.worker_lost.append(task_id)
            elif _send(destinations, task) and _recovered(store, task, now_iso):
                swept.recovered.append(task_id)
    for kind, found in (("waiting", swept.requeued), ("lost run", swept.recovered)):
        if found:
            logger.warning(f"re-sent {len(found)} task(s): {kind}", extra={"task_ids": found})
    return swept


def _resent(store: TaskStore, task: Task, moment: datetime, grace_seconds: int) -> bool:
    """Record the re-send (a `task:queued` event by the sweeper) and when to look again."""
    def change(current: Task) -> Task | None:
        if current.status is not task.status or current.attempt != task.attempt:
            return None
        if current.status is TaskStatus.PENDING:  # written before create wrote tasks already queued
            current.status = TaskStatus.QUEUED
        current.due_at = ids.iso(moment + timedelta(seconds=grace_seconds * (2 ** current.resends - 1)))
        current.resends += 1
        return current

    data = {"attempt": task.attempt, "by": "sweeper", "resend": task.resends + 1}
    return store.record(task.id, EventType.QUEUED, data, change=change, current=task) is not None


def _recovered(store: TaskStore, task: Task, now_iso: str) -> bool:
    change = transition(TaskStatus.RETRYING, now_iso=now_iso,
                        updates={"lease_until": None, "lease_owner": None, "lost_runs": task.lost_runs + 1,
                                 "due_at": now_iso},
                        guard=lambda t: _lost(t, now_iso) and t.attempt == task.attempt)
    data = {"attempt": task.attempt, "reason": "the worker running it was lost", "by": "sweeper"}
    return store.record(task.id, EventType.RETRYING, data, change=change, current=task) is not None


def _agent_gone(destinations: dispatch.Destinations, task: Task) -> bool:
    """A model operation whose agent no longer beats (checked only when it is due to be sent again)."""
    if routing.lane_for(task.type, task.provider) is not routing.Lane.AGENT:
        return False
    return AgentRegistry(destinations[routing.Lane.AGENT]).get(str(task.metadata.get("agent_id"))) is None


def _fail_agent_lost(store: TaskStore, task: Task, now_iso: str) -> bool:
    error = {"code": AGENT_LOST, "retryable": False,
             "message": f"GPU agent {task.metadata.get('agent_id')} stopped before running this model operation"}
    change = transition(TaskStatus.FAILED, now_iso=now_iso, updates={"error": error, "completed_at": now_iso},
                        guard=lambda t: t.status is task.status and t.attempt == task.attempt)
    failed = store.record(task.id, EventType.FAILED, {"error": error, "by": "sweeper"}, change=change, current=task)
    if failed:
        logger.warning("model operation failed: its agent is gone", extra={"task_id": task.id})
    return failed is not None


def _lost(task: Task, now_iso: str) -> bool:
    return task.status is TaskStatus.RUNNING and task.lease_until is not None and task.lease_until < now_iso


def _send(destinations: dispatch.Destinations, task: Task) -> bool:
    try:
        dispatch.send(destinations, task)
    except Exception:  # the next sweep tries again
        logger.exception("could not re-send a task", extra={"task_id": task.id})
        return False
    return True
