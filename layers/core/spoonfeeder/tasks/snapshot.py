"""The request snapshot: everything needed to run a task again exactly as it first ran.

It is provider-neutral (each adapter maps it to its own wire format): `system`, `messages` (a text task's prompt
is one user message; a chat task's history as given), `options`, and `provider_options` when given.
"""

from __future__ import annotations

from typing import Any

from spoonfeeder import ids
from spoonfeeder.models.images import image_snapshot
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import Task
from spoonfeeder.models.tasks import TaskCreate, TaskType


def text_snapshot(body: TaskCreate, model: str) -> dict[str, Any]:
    if body.messages is not None:
        messages = [message.model_dump() for message in body.messages]
    else:
        messages = [{"role": "user", "content": body.prompt or ""}]
    snapshot: dict[str, Any] = {
        "type": str(body.type),
        "provider": str(body.provider),
        "model": model,
        "messages": messages,
        "options": body.options.model_dump(exclude_none=True, by_alias=True),
    }
    if body.system:
        snapshot["system"] = body.system
    if body.provider_options is not None:
        snapshot["provider_options"] = body.provider_options.model_dump(exclude_none=True)
    if body.type is TaskType.IMAGE:
        snapshot["image"] = image_snapshot(body.image)
    return snapshot


def new_task(owner: str, body: TaskCreate, model: str, *, snapshot: dict[str, Any] | None = None,
             **fields: Any) -> Task:
    """A task as a create writes it: queued, its request stored once (`snapshot` adds to the text snapshot: a
    preset's chain)."""
    assert body.type is not None and body.provider is not None
    at = ids.now_iso()
    return Task(id=ids.new_id(), owner=owner, type=body.type, provider=body.provider, model=model, name=body.name,
                status=TaskStatus.QUEUED, request_snapshot={**text_snapshot(body, model), **(snapshot or {})},
                created_at=at, updated_at=at, **fields)
