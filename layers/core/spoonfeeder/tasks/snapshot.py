"""The request snapshot: everything needed to run a task again exactly as it first ran.

It is provider-neutral (each adapter maps it to its own wire format): `system`, `messages` (a text task's prompt
is one user message; a chat task's history as given), `options`, and `provider_options` when given.
"""

from __future__ import annotations

from typing import Any

from spoonfeeder.models.images import image_snapshot
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
