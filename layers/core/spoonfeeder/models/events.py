"""Events: what happened to a task, in order. Every push a client sees is one of these, recorded first."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from spoonfeeder.models.record import Record


class EventType(StrEnum):
    CREATED = "task:created"
    QUEUED = "task:queued"
    STARTED = "task:started"
    PROGRESS = "task:progress"
    DELTA = "task:delta"
    RETRYING = "task:retrying"
    COMPLETED = "task:completed"
    FAILED = "task:failed"
    CANCELLED = "task:cancelled"
    # A model operation on a GPU agent (a model_op task): pull progress, recorded under the task like the rest.
    MODEL_PULL = "model:pull"


# A plain record (no pydantic, for the workers and the stream); the API documents it as the `Event` schema.
@dataclass(kw_only=True)
class Event(Record):
    id: str
    topic: str
    type: str
    seq: int
    task_id: str | None = None
    at: str
    data: dict[str, Any] = field(default_factory=dict)


def task_topic(task_id: str) -> str:
    return f"task:{task_id}"


def owner_topic(owner: str) -> str:
    return f"owner:{owner}"


def event_message(event: dict[str, Any]) -> dict[str, Any]:
    """The one shape in which a recorded event reaches a client, live or replayed."""
    return {"type": "event", "event": event}
