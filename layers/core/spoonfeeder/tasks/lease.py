"""Run leases and the worker's heartbeat: a lost worker's messages and runs come back within seconds.

The queue's visibility timeout must be at least the function's timeout (AWS refuses the event source
otherwise), so a worker shortens it itself: while an invocation lives, a heartbeat thread keeps each message
it still holds hidden for `lease_seconds` and renews the lease of the run under way, every `every_seconds`.
A worker killed mid-run stops beating: its messages reappear and its lease ends within `lease_seconds`, and
the next delivery takes the run over. Takeovers are counted (`lost_runs`); at the budget the task fails
WORKER_LOST instead of looping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import TracebackType

from aws_lambda_powertools import Logger

from spoonfeeder import ids
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import Task
from spoonfeeder.tasks.state import transition

logger = Logger(child=True)

WORKER_LOST = "WORKER_LOST"


def lease_end(seconds: int) -> str:
    return ids.iso(ids.now() + timedelta(seconds=seconds))


def out_of_lost_runs(task: Task, max_lost_runs: int) -> bool:
    """Taking this lost run over would be one too many: the task fails WORKER_LOST instead."""
    return task.lost_runs + 1 >= max_lost_runs


def fail_worker_lost(store: TaskStore, task: Task, *, max_lost_runs: int, by: str) -> bool:
    """Fail a task whose runs were lost `max_lost_runs` times (its lease is over, nobody runs it)."""
    now_iso = ids.now_iso()
    error = {"code": WORKER_LOST, "retryable": False,
             "message": f"the worker running this task was lost {task.lost_runs + 1} times; gave up"}
    change = transition(
        TaskStatus.FAILED, now_iso=now_iso,
        updates={"error": error, "completed_at": now_iso, "lease_until": None, "lease_owner": None,
                 "lost_runs": task.lost_runs + 1},
        guard=lambda t: (t.attempt == task.attempt and t.status is TaskStatus.RUNNING
                         and t.lease_until is not None and t.lease_until < now_iso))
    done = store.record(task.id, EventType.FAILED, {"error": error, "by": by}, change=change, current=task)
    if done:
        logger.warning("task failed: worker lost too often", extra={"task_id": task.id, "by": by})
    return done is not None


class Heartbeat:
    """Keeps an invocation's held messages hidden and its runs' leases alive, from a thread. A Lambda worker has
    one run at a time; a GPU agent has one per task in flight, each under its own key."""

    def __init__(
        self, store: TaskStore, hide: Callable[[Sequence[str], int], None], *,
        lease_seconds: int, every_seconds: float,
    ) -> None:
        self._store, self._hide = store, hide
        self.lease_seconds, self._every = lease_seconds, every_seconds
        self._held: dict[str, str] = {}  # message id -> receipt handle
        self._runs: dict[str, tuple[str, str, int]] = {}  # key -> task id, lease owner, attempt
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        self.beat()  # at once: a batch's messages are hidden for lease_seconds from now, not the queue's timeout
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def hold(self, message_id: str, receipt_handle: str) -> None:
        with self._lock:
            self._held[message_id] = receipt_handle

    def release(self, message_id: str, then: Callable[[], None] | None = None) -> None:
        """Stop keeping a message hidden (finished or postponed); `then` runs before the next beat can."""
        with self._lock:
            self._held.pop(message_id, None)
            if then:
                then()

    def running(self, task: Task | None, key: str = "run") -> None:
        """The run whose lease to renew from now on under `key` (None: no run under way there)."""
        with self._lock:
            if task is None:
                self._runs.pop(key, None)
            else:
                self._runs[key] = (task.id, task.lease_owner or "", task.attempt)

    def beat(self) -> None:
        with self._lock:
            # A missed beat is not fatal: the next one may succeed before the lease ends. Each part apart, so one
            # failing call does not cost the others their renewal.
            try:
                if self._held:
                    self._hide(list(self._held.values()), self.lease_seconds)
            except Exception:
                logger.exception("heartbeat: keeping the messages hidden failed")
            for key, (task_id, owner, attempt) in list(self._runs.items()):
                try:
                    if not self._store.renew_lease(task_id, lease_owner=owner, attempt=attempt,
                                                   until=lease_end(self.lease_seconds)):
                        del self._runs[key]  # cancelled or taken over: the run notices at its next write
                except Exception:
                    logger.exception("heartbeat: renewing a lease failed", extra={"task_id": task_id})

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.beat()
