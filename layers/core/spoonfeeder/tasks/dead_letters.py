"""A message that exhausted its deliveries: kept for inspection, then its task fails (RETRIES_EXHAUSTED).

The letter is written before its task is failed and before SQS forgets the message, so a crash in between
leaves the message on the dead-letter queue for another try; both steps are idempotent. A body that names no
task (a poison message) is kept all the same: it is the one the operator most needs to see.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pydantic import ValidationError

from spoonfeeder.data.dead_letters import DeadLetter, DeadLetterArchive
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.tasks.runner import fail_exhausted


@dataclass(frozen=True)
class Outcome:
    kept_now: bool  # False: an earlier delivery of the same letter was kept already
    task_id: str | None  # None: the body names no task
    failed_now: bool  # the task failed now (not already finished)


def handle(store: TaskStore, archive: DeadLetterArchive, letter: DeadLetter) -> Outcome:
    try:
        message: TaskMessage | None = TaskMessage.model_validate_json(letter.body)
    except ValidationError:
        message = None
    kept = archive.keep(dataclasses.replace(letter, task_id=message.task_id if message else None))
    if message is None:
        return Outcome(kept_now=kept, task_id=None, failed_now=False)
    return Outcome(kept_now=kept, task_id=message.task_id, failed_now=fail_exhausted(store, message))
