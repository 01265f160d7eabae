"""Fallback chains and cooldowns at run time (the LiteLLM router's pattern, with its state in DynamoDB).

A task's chain is its request's provider/model followed by the snapshot's `fallbacks`; the task's own
`provider` and `model` say where in the chain it is. Moving along the chain:

- when a retryable failure has used the last delivery on one pair, the task moves to the next pair that is
  not cooled down (none left: the delivery is dead-lettered and the task fails as it always did);
- before a chained task calls its pair, a pair that is cooled down is skipped the same way; when every pair
  from here on is cooled down, the task waits on its pair until that cooldown ends.

A move is one `task:retrying` event ({from, to, reason}) with the task's new pair and a NEW attempt number,
then a new message for that attempt: SQS's receive count belongs to a message, so a new one restarts the
delivery budget, and the old message, now of a past attempt, is deleted. Should the send fail, the task is
`retrying` with a due time, so the sweeper sends it again. A single-pair task never consults cooldowns: it
has nowhere else to go, and its own retries already back off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from spoonfeeder import ids
from spoonfeeder.data.cooldowns import Cooldowns
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import Provider, TaskStatus
from spoonfeeder.models.task_record import Task
from spoonfeeder.providers.base import ProviderError
from spoonfeeder.tasks import dispatch, routing
from spoonfeeder.tasks.lease import lease_end
from spoonfeeder.tasks.state import transition

logger = Logger(child=True)

COOLDOWN = "COOLDOWN"  # the reason of a move that skips or waits out a cooled-down pair
# Failures that say something about the provider/model (not a bug of ours): they count towards cooldowns.
PROVIDER_FAILURES = frozenset({"RATE_LIMITED", "PROVIDER_UNAVAILABLE", "TIMEOUT"})


@dataclass(frozen=True)
class Pair:
    """One provider/model pair of a task's chain (a preset's fallbacks were validated when it was saved, as
    models/profiles.ProviderModel)."""

    provider: Provider
    model: str

    @classmethod
    def of(cls, provider: str, model: str) -> Pair:
        return cls(Provider(provider), model)

    def to_dict(self) -> dict[str, str]:
        return {"provider": str(self.provider), "model": self.model}


def chain_of(task: Task) -> list[Pair]:
    snapshot = task.request_snapshot or {}
    first = Pair.of(snapshot.get("provider", task.provider), snapshot.get("model", task.model))
    return [first, *(Pair.of(pair["provider"], pair["model"]) for pair in snapshot.get("fallbacks", []))]


def _position(task: Task, chain: list[Pair]) -> int:
    here = Pair(task.provider, task.model)
    return chain.index(here) if here in chain else 0


@dataclass(frozen=True)
class Target:
    pair: Pair
    delay: int  # seconds before the new attempt may start (a cooldown's rest, and one more: whole seconds)


@dataclass
class Fallbacks:
    store: TaskStore
    cooldowns: Cooldowns
    # The runner's own lane and its queue: every pair of a chain runs on it (checked when a preset is saved).
    queue_urls: Mapping[routing.Lane, str]

    # ------------------------------------------------------------------ the runner's two questions
    def skip_cooled(self, task: Task, guard: Callable[[Task], bool]) -> Task | None:
        """Before calling the task's pair: when it is cooled down and the task has a chain, move on (or wait);
        returns the task as moved, or None to go ahead."""
        chain = chain_of(task)
        if len(chain) < 2:
            return None
        here = _position(task, chain)
        wait = self.cooldowns.remaining(chain[here].provider, chain[here].model)
        if not wait:
            return None
        target = self._first_available(chain, here + 1) or Target(chain[here], wait + 1)
        return self._move(task, target, reason=COOLDOWN, error=None, guard=guard)

    def after_failure(self, task: Task, err: ProviderError, *, error: dict[str, Any], exhausted: bool,
                      guard: Callable[[Task], bool]) -> Task | None:
        """A retryable failure of the task's pair: counted towards the pair's cooldown; when it `exhausted`
        the pair's deliveries, the task moves to the next pair (returns it moved), if it has one."""
        if err.code in PROVIDER_FAILURES and self.cooldowns.failed(str(task.provider), task.model):
            logger.warning("provider/model cooled down", extra={"provider": str(task.provider), "model": task.model})
        if not exhausted:
            return None
        chain = chain_of(task)
        here = _position(task, chain)
        if here + 1 >= len(chain):
            return None
        target = self._first_available(chain, here + 1) or self._soonest(chain, here + 1)
        return self._move(task, target, reason=err.code, error=error, guard=guard)

    # ------------------------------------------------------------------ helpers
    def _first_available(self, chain: list[Pair], start: int) -> Target | None:
        for pair in chain[start:]:
            if not self.cooldowns.remaining(pair.provider, pair.model):
                return Target(pair, 0)
        return None

    def _soonest(self, chain: list[Pair], start: int) -> Target:
        """Every pair from `start` on is cooled down: the next one, once its cooldown ends."""
        pair = chain[start]
        return Target(pair, self.cooldowns.remaining(pair.provider, pair.model) + 1)

    def _move(self, task: Task, target: Target, *, reason: str, error: dict[str, Any] | None,
              guard: Callable[[Task], bool]) -> Task | None:
        attempt = task.attempt + 1
        came_from = {"provider": str(task.provider), "model": task.model}
        data = {"from": came_from, "to": target.pair.to_dict(), "reason": reason,
                "attempt": attempt, "retry_in_seconds": target.delay}
        updates = {"provider": target.pair.provider, "model": target.pair.model, "attempt": attempt,
                   "error": error, "lease_until": None, "lease_owner": None, "lost_runs": 0, "resends": 0,
                   "due_at": lease_end(target.delay)}
        change = transition(TaskStatus.RETRYING, now_iso=ids.now_iso(), updates=updates, guard=guard)
        moved = self.store.record(task.id, EventType.RETRYING, data, change=change, current=task)
        if moved is None:
            return None
        logger.info("task moved along its chain", extra={"task_id": task.id, **data})
        try:
            dispatch.send(self.queue_urls, moved[0], delay_seconds=target.delay)
        except Exception:  # the task is retrying with a due time: the sweeper sends it again
            logger.exception("could not send the moved task's message", extra={"task_id": task.id})
        return moved[0]
