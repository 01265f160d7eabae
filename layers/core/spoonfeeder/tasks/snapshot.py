"""The request snapshot: everything needed to run a task again exactly as it first ran."""

from __future__ import annotations

from typing import Any

from spoonfeeder.models.images import image_snapshot
from spoonfeeder.models.tasks import TaskCreate, TaskType


def text_snapshot(body: TaskCreate, model: str) -> dict[str, Any]:
    messages: list[dict[str, str]] = []
    if body.system:
        messages.append({"role": "system", "content": body.system})
    messages.append({"role": "user", "content": body.prompt})
    snapshot: dict[str, Any] = {
        "type": str(body.type),
        "provider": str(body.provider),
        "model": model,
        "messages": messages,
        "options": body.options.model_dump(exclude_none=True),
    }
    if body.type is TaskType.IMAGE:
        snapshot["image"] = image_snapshot(body.image)
    return snapshot
