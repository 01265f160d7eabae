"""Which table stream records add usage: a task's move into a finished state that recorded usage or a cost
(an image billed per picture reports a cost and no tokens); and which end a ComfyUI session's generation.

Pure: the images in, the usage out. A task's other writes (deltas, lease renewals, a purge) add nothing, and
a finished attempt is counted by the record of the write that finished it, which happens once per attempt
(the store's marker makes a re-delivered record count once too).
"""

from __future__ import annotations

from typing import Any

from spoonfeeder.catalog.money import to_micros
from spoonfeeder.models.kinds import TERMINAL
from spoonfeeder.models.usage import TaskUsage

_FINISHED = frozenset(str(s) for s in TERMINAL)


def usage_of_transition(old: dict[str, Any] | None, new: dict[str, Any] | None) -> TaskUsage | None:
    """The usage a task item's change adds (plain images, as `data.items.from_item` gives them), or None."""
    if not old or not new or new.get("entity") != "task":
        return None
    if new.get("status") not in _FINISHED or old.get("status") in _FINISHED:
        return None
    result = new.get("result") or {}
    usage, cost = result.get("usage") or {}, result.get("cost_usd")
    if (not usage and cost is None) or result == (old.get("result") or {}):  # nothing, or an earlier attempt's
        return None
    return TaskUsage(
        owner=str(new["owner"]), task_id=str(new["id"]), attempt=int(new.get("attempt") or 1),
        day=str(new.get("completed_at") or new["updated_at"])[:10],
        # The pair that produced the result (a fallback may differ from the task's first choice).
        provider=str(result.get("provider") or new["provider"]), model=str(result.get("model") or new["model"]),
        input_tokens=int(usage.get("input_tokens") or 0), output_tokens=int(usage.get("output_tokens") or 0),
        cost_micros=None if cost is None else to_micros(cost))


def finished_in_session(old: dict[str, Any] | None,
                        new: dict[str, Any] | None) -> tuple[str, str, str, int, str] | None:
    """(owner, session id, task id, attempt, status) when a session's generation just finished an attempt."""
    if not old or not new or new.get("entity") != "task" or not new.get("session_id"):
        return None
    if new.get("status") not in _FINISHED or old.get("status") in _FINISHED:
        return None
    return (str(new["owner"]), str(new["session_id"]), str(new["id"]), int(new.get("attempt") or 1),
            str(new["status"]))
