"""Queue message bodies: references to tasks, never whole tasks (the consumer reads the task)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


class InvalidMessage(ValueError):
    """A body that is not a task message (not JSON, or a field missing or wrong): no attempt can ever read it."""


@dataclass(frozen=True)
class TaskMessage:
    """Body of a message on llm-tasks or gpu-tasks; `attempt` ties it to one attempt of the task."""

    task_id: str
    owner: str
    attempt: int
    trace_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("task_id", "owner"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InvalidMessage(f"{name}: a non-empty string is required")
        if isinstance(self.attempt, bool) or not isinstance(self.attempt, int) or self.attempt < 1:
            raise InvalidMessage("attempt: an integer of at least 1 is required")
        if self.trace_id is not None and not isinstance(self.trace_id, str):
            raise InvalidMessage("trace_id: a string or null is required")

    @classmethod
    def from_json(cls, body: str | bytes) -> TaskMessage:
        """The message a queue body holds; fields it does not know are ignored (a newer sender's)."""
        try:
            values: Any = json.loads(body)
        except (ValueError, TypeError):  # JSONDecodeError and undecodable bytes are ValueErrors
            raise InvalidMessage("the body is not JSON") from None
        if not isinstance(values, dict):
            raise InvalidMessage("the body is not a JSON object")
        missing = [name for name in ("task_id", "owner", "attempt") if name not in values]
        if missing:
            raise InvalidMessage(f"{', '.join(missing)} required")
        return cls(task_id=values["task_id"], owner=values["owner"], attempt=values["attempt"],
                   trace_id=values.get("trace_id"))

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))
