"""A message that exhausted its deliveries: kept for inspection, then its task fails (RETRIES_EXHAUSTED).

The letter is written before its task is failed and before SQS forgets the message, so a crash in between
leaves the message on the dead-letter queue for another try; both steps are idempotent. A body that names no
task (a poison message) is kept all the same: it is the one the operator most needs to see.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from spoonfeeder import ids
from spoonfeeder.data.dead_letters import DeadLetter, DeadLetterArchive
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.messages import InvalidMessage, TaskMessage
from spoonfeeder.tasks.state import lease_held, transition


@dataclass(frozen=True)
class Outcome:
    kept_now: bool  # False: an earlier delivery of the same letter was kept already
    task_id: str | None  # None: the body names no task
    failed_now: bool  # the task failed now (not already finished)


def handle(store: TaskStore, archive: DeadLetterArchive, letter: DeadLetter) -> Outcome:
    try:
        message: TaskMessage | None = TaskMessage.from_json(letter.body)
    except InvalidMessage:
        message = None
    kept = archive.keep(dataclasses.replace(letter, task_id=message.task_id if message else None))
    if message is None:
        return Outcome(kept_now=kept, task_id=None, failed_now=False)
    return Outcome(kept_now=kept, task_id=message.task_id, failed_now=fail_exhausted(store, message))


def fail_exhausted(store: TaskStore, message: TaskMessage) -> bool:
    """A dead-lettered message: its task ran out of attempts. Fails it, unless it already finished or a run
    of it is under way under a live lease (that run finishes it; the sweeper recovers it if it is lost)."""
    current = store.get(message.task_id)
    if current is None or lease_held(current, attempt=message.attempt, now_iso=ids.now_iso()):
        return False
    last = current.error.code if current.error else None
    error = {"code": "RETRIES_EXHAUSTED", "retryable": False,
             "message": "gave up: every delivery of this attempt failed" + (f" (last error: {last})" if last else "")}
    change = transition(TaskStatus.FAILED, now_iso=ids.now_iso(),
                        updates={"error": error, "completed_at": ids.now_iso(), "lease_until": None,
                                 "lease_owner": None},
                        guard=lambda t: t.attempt == message.attempt and t.owner == message.owner)
    return store.record(message.task_id, EventType.FAILED, {"error": error}, change=change,
                        current=current) is not None
