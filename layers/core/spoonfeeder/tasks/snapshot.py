"""The request snapshot: everything needed to run a task again exactly as it first ran."""

from __future__ import annotations

from typing import Any

from spoonfeeder.models.tasks import TaskCreate


def text_snapshot(body: TaskCreate, model: str) -> dict[str, Any]:
    messages: list[dict[str, str]] = []
    if body.system:
        messages.append({"role": "system", "content": body.system})
    messages.append({"role": "user", "content": body.prompt})
    return {
        "type": str(body.type),
        "provider": str(body.provider),
        "model": model,
        "messages": messages,
        "options": body.options.model_dump(exclude_none=True),
    }
