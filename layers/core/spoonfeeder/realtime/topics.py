"""Topics a client may subscribe to, and who may: only the owner of what the topic names."""

from __future__ import annotations

from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.errors import Forbidden, ValidationFailed

KINDS = ("task", "owner")


def parse(topic: str) -> tuple[str, str]:
    kind, sep, ident = topic.partition(":")
    if not sep or not ident or kind not in KINDS or len(topic) > 200:
        raise ValidationFailed(f"unknown topic {topic!r}; topics look like task:<id> or owner:<user id>",
                               code="INVALID_TOPIC")
    return kind, ident


def authorize(topic: str, owner: str, tasks: TaskStore) -> tuple[str, str]:
    """The topic's (kind, id) if `owner` may watch it; Forbidden otherwise (also for unknown ids)."""
    kind, ident = parse(topic)
    if kind == "owner" and ident == owner:
        return kind, ident
    if kind == "task":
        task = tasks.get(ident)
        if task is not None and task.owner == owner:
            return kind, ident
    raise Forbidden(f"not allowed to watch {topic}", code="TOPIC_FORBIDDEN")
