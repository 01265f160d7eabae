"""Queue message bodies: references to tasks, never whole tasks (the consumer reads the task)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TaskMessage(BaseModel):
    """Body of a message on llm-tasks or gpu-tasks; `attempt` ties it to one attempt of the task."""

    task_id: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    attempt: int = Field(ge=1)
    trace_id: str | None = None
