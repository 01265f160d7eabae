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
    # A ComfyUI generation's (a comfyui task's) own names for its queued, progress and end events.
    GENERATION_QUEUED = "generation:queued"
    GENERATION_PROGRESS = "generation:progress"
    GENERATION_COMPLETED = "generation:completed"
    GENERATION_FAILED = "generation:failed"
    GENERATION_CANCELLED = "generation:cancelled"


#: A generation's events are written by the same code as every task's (runner, API, sweeper); the store names
#: them here, in one place.
_GENERATION_NAMES = {
    EventType.QUEUED: EventType.GENERATION_QUEUED,
    EventType.PROGRESS: EventType.GENERATION_PROGRESS,
    EventType.COMPLETED: EventType.GENERATION_COMPLETED,
    EventType.FAILED: EventType.GENERATION_FAILED,
    EventType.CANCELLED: EventType.GENERATION_CANCELLED,
}


def event_type_for(provider: str, event_type: str) -> str:
    """The name an event has for a task of `provider`: a ComfyUI task's are `generation:*`."""
    if provider == "comfyui":
        return str(_GENERATION_NAMES.get(event_type, event_type))  # type: ignore[call-overload]
    return str(event_type)


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
    # Further topics the event is pushed to besides `topic` and its owner's (a generation's session).
    topics: list[str] | None = None


def task_topic(task_id: str) -> str:
    return f"task:{task_id}"


def owner_topic(owner: str) -> str:
    return f"owner:{owner}"


def session_topic(session_id: str) -> str:
    return f"session:{session_id}"


def batch_topic(batch_id: str) -> str:
    return f"batch:{batch_id}"


def event_message(event: dict[str, Any]) -> dict[str, Any]:
    """The one shape in which a recorded event reaches a client, live or replayed."""
    return {"type": "event", "event": event}
