"""Running one delivery of a task: start, stream, finish — or retry, fail, wait, or skip (images: tasks/images.py).

A delivery may start the task only if it carries the task's current attempt and the status allows it
(queued, retrying, or running with an expired lease). A duplicate delivery, a message of an older attempt
or a cancelled task runs nothing and the message is acknowledged; a delivery that finds another worker's
run under a live lease comes back when that lease ends (so a lost run never depends on the sweeper).

The run holds its task: every write during the run (started, deltas, completed …) is one UpdateItem of the
changed attributes plus the event, without a read first; only a conflict (a cancel) makes it read again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from spoonfeeder import ids
from spoonfeeder.catalog import pricing
from spoonfeeder.data import storage
from spoonfeeder.data.cooldowns import CooldownPolicy, Cooldowns
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import Provider, TaskStatus, TaskType
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.models.task_record import Task
from spoonfeeder.providers import credentials, registry
from spoonfeeder.providers.base import Credentials, ProviderError, TextProvider, TextRequest, TextResult
from spoonfeeder.settings import RunSettings, WorkerSettings
from spoonfeeder.tasks import dispatch, routing
from spoonfeeder.tasks.deltas import DeltaCoalescer, TaskNoLongerRunning
from spoonfeeder.tasks.fallback import Fallbacks
from spoonfeeder.tasks.lease import fail_worker_lost, lease_end, out_of_lost_runs
from spoonfeeder.tasks.retry import backoff_seconds
from spoonfeeder.tasks.state import can_start, is_takeover, lease_held, transition

logger = Logger(child=True)

ERROR_MESSAGE_MAX_CHARS = 1000  # provider messages can be long; the item and its events stay small
HAND_BACK_SECONDS = 1  # a task handed back for another worker: its new message waits that long


class RetryLater(Exception):
    """The delivery must come back later (a retryable failure, or another run's live lease)."""


@dataclass(frozen=True)
class Delivery:
    message: TaskMessage
    receive_count: int
    postpone: Callable[[int], None]  # make this message come back after N seconds
    track: Callable[[Task | None], None] = lambda task: None  # the run whose lease the heartbeat renews


class ProviderSource(Protocol):
    """Where a runner gets a task's credentials and its provider's adapter: the cloud providers for the Lambda
    workers, the local Ollama for a GPU agent."""

    def credentials(self, task: Task) -> Credentials: ...

    def text_provider(self, task: Task, creds: Credentials) -> TextProvider: ...

    def runs_elsewhere(self, task: Task) -> bool:
        """True when another worker should run this task (a GPU agent without the model, while another has it)."""
        ...


@dataclass(frozen=True)
class CloudProviders:
    """The owner's own key for the provider (else the operator's), and the provider's SDK adapter."""

    settings: WorkerSettings

    def credentials(self, task: Task) -> Credentials:
        return credentials.resolver(self.settings).resolve(task.owner, task.provider)

    def text_provider(self, task: Task, creds: Credentials) -> TextProvider:
        return registry.text_provider(task.provider, creds, timeout=self.settings.provider_timeout_seconds)

    def runs_elsewhere(self, task: Task) -> bool:
        return False


#: Records an event of the run (type, data); False once the run is no longer this worker's (cancelled, taken over).
RecordEvent = Callable[[str, dict[str, Any]], bool]


class ModelOperations(Protocol):
    """Runs a model_op task (pull, load …) on this host; `record` reports its progress. Returns the result."""

    def run(self, task: Task, record: RecordEvent) -> dict[str, Any]: ...


class Generations(Protocol):
    """Runs a ComfyUI generation (a comfyui task) on this host; `record` reports its progress. Returns the result
    (its outputs already stored)."""

    def run(self, task: Task, attempt: int, record: RecordEvent) -> dict[str, Any]: ...


@dataclass
class Run:
    """One run of a task by this worker: the task as last written, and the lease it holds."""

    task: Task
    lease_owner: str
    attempt: int
    # The stream's last deltas, not written yet: they are recorded in the same write as the completion.
    tail: list[dict[str, Any]] = field(default_factory=list)

    def mine(self, task: Task) -> bool:
        return (task.status is TaskStatus.RUNNING and task.attempt == self.attempt
                and task.lease_owner == self.lease_owner)


@dataclass
class TextTaskRunner:
    """Runs the deliveries of one lane: `queue_url` is the lane's queue (a fallback's new attempt goes there)."""

    store: TaskStore
    settings: RunSettings
    providers: ProviderSource
    lane: routing.Lane
    queue_url: str
    model_operations: ModelOperations | None = None  # the GPU agent's; a Lambda worker runs no model_op task
    generations: Generations | None = None  # the GPU agent's ComfyUI
    # Written into the metadata of every task this runner starts (a GPU agent's id: where the task runs).
    run_metadata: dict[str, Any] = field(default_factory=dict)
    fallbacks: Fallbacks = field(init=False)

    def __post_init__(self) -> None:
        policy = CooldownPolicy(self.settings.cooldown_failures, self.settings.cooldown_window_seconds,
                                self.settings.cooldown_seconds)
        self.fallbacks = Fallbacks(self.store, Cooldowns(self.settings.table_name, policy),
                                   {self.lane: self.queue_url})

    def run(self, delivery: Delivery) -> str:
        """Process one delivery; returns what happened. Raises RetryLater when the message must return."""
        message = delivery.message
        task = self.store.get(message.task_id)
        if task is None or task.owner != message.owner:
            logger.warning("no such task for message; dropped", extra={"task_id": message.task_id})
            return "missing"
        now = ids.now()
        if lease_held(task, attempt=message.attempt, now_iso=ids.iso(now)):
            wait = _seconds_until(task.lease_until or "", now) + 1
            logger.info("run under way elsewhere; delivery waits for its lease", extra={"task_id": task.id})
            delivery.postpone(wait)
            raise RetryLater("LEASE_HELD")
        if not can_start(task, attempt=message.attempt, now_iso=ids.iso(now)):
            logger.info("delivery skipped", extra={"task_id": task.id, "status": str(task.status)})
            return "skipped"
        if is_takeover(task) and out_of_lost_runs(task, self.settings.max_lost_runs):
            fail_worker_lost(self.store, task, max_lost_runs=self.settings.max_lost_runs, by="worker")
            return "failed"
        if self.providers.runs_elsewhere(task):
            # A new message rather than this one made visible again: handing back must not spend the deliveries
            # that dead-letter a message. This one is then done with.
            dispatch.send({self.lane: self.queue_url}, task, delay_seconds=HAND_BACK_SECONDS)
            logger.info("another worker can run this task; handed back", extra={"task_id": task.id})
            return "handed_back"
        try:
            creds = self.providers.credentials(task)
        except ProviderError as err:
            return self._fail_unstarted(task, err, message.attempt)
        run = self._start(task, message.attempt, creds)
        if run is None:
            return "skipped"
        delivery.track(run.task)
        try:
            return self._run(run, creds, delivery)
        finally:
            delivery.track(None)

    def _run(self, run: Run, creds: Credentials, delivery: Delivery) -> str:
        if self.fallbacks.skip_cooled(run.task, guard=run.mine):
            return "moved"
        try:
            stored = self._produce(run, creds)
        except TaskNoLongerRunning:
            logger.info("task left running while streaming; stopped", extra={"task_id": run.task.id})
            return "stopped"
        except ProviderError as err:
            if not err.retryable:
                return self._fail(run, err)
            if self._retry(run, err, delivery):
                return "moved"
            raise RetryLater(err.code) from err
        except Exception as exc:  # a bug or an unexpected SDK failure: retried, then dead-lettered
            logger.exception("unexpected failure running task", extra={"task_id": run.task.id})
            if self._retry(run, ProviderError("INTERNAL_ERROR", type(exc).__name__, retryable=True), delivery):
                return "moved"
            raise RetryLater("INTERNAL_ERROR") from exc
        return self._complete(run, stored)

    # ------------------------------------------------------------------ writes of the run
    def _write(self, run: Run, event_type: str, data: dict[str, Any], updates: dict[str, Any] | None = None,
               to: TaskStatus | None = None, before: list[tuple[str, dict[str, Any]]] | None = None) -> bool:
        """Record an event of this run (with a status move `to`, or none): only while the run is still ours."""
        if to is None:
            def change(current: Task) -> Task | None:
                return current if run.mine(current) else None
        else:
            change = transition(to, now_iso=ids.now_iso(), updates=updates, guard=run.mine)
        moved = self.store.record(run.task.id, event_type, data, change=change, current=run.task,
                                  before=before or ())
        if moved is None:
            return False
        run.task = moved[0]
        return True

    def _start(self, task: Task, attempt: int, creds: Credentials) -> Run | None:
        now = ids.now()
        metadata = {**task.metadata, **self.run_metadata}
        if creds.simulated:
            logger.warning("SIMULATED provider answers this task (local cloud offline mode)",
                           extra={"task_id": task.id, "provider": str(task.provider)})
            metadata["simulated"] = True
        lease_owner = ids.new_id()
        updates: dict[str, Any] = {
            "started_at": task.started_at or ids.iso(now), "metadata": metadata, "due_at": None,
            "lease_until": lease_end(self.settings.lease_seconds), "lease_owner": lease_owner}
        data: dict[str, Any] = {"attempt": attempt}
        if is_takeover(task):
            updates["lost_runs"] = task.lost_runs + 1
            data["took_over"] = True
        change = transition(TaskStatus.RUNNING, now_iso=ids.iso(now), updates=updates,
                            guard=lambda t: t.attempt == attempt)
        moved = self.store.record(task.id, EventType.STARTED, data, change=change, current=task)
        return Run(moved[0], lease_owner, attempt) if moved else None

    def _produce(self, run: Run, creds: Credentials) -> dict[str, Any]:
        """The result to record: the one place where the task's type chooses how it runs."""
        if run.task.type is TaskType.MODEL_OP:
            if self.model_operations is None:
                raise ProviderError("NOT_AVAILABLE", "model operations run on a GPU agent", retryable=False)
            return self.model_operations.run(run.task, lambda event_type, data: self._write(run, event_type, data))
        if run.task.provider is Provider.COMFYUI:
            if self.generations is None:
                raise ProviderError("NOT_AVAILABLE", "ComfyUI generations run on a GPU agent", retryable=False)
            return self.generations.run(run.task, run.attempt,
                                        lambda event_type, data: self._write(run, event_type, data))
        if run.task.type is TaskType.IMAGE:
            from spoonfeeder.tasks.images import ImageTaskRun  # only image tasks load it and its imports

            images = ImageTaskRun(run.task, run.attempt, self.settings.bucket_name,
                                  progress=lambda data: self._write(run, EventType.PROGRESS, data))
            return images.produce(creds, timeout=self.settings.provider_timeout_seconds)
        return self._stored_text(run, self._generate(run, creds))

    def _generate(self, run: Run, creds: Credentials) -> TextResult:
        request = TextRequest.of_snapshot(run.task.request_snapshot or {}, provider=str(run.task.provider),
                                          model=run.task.model)
        provider = self.providers.text_provider(run.task, creds)
        coalescer = DeltaCoalescer(
            lambda text, index: self._write(run, EventType.DELTA, {"text": text, "index": index}),
            interval=self.settings.delta_flush_seconds)
        result = provider.stream(request, coalescer.add)
        run.tail = coalescer.take()
        return result

    def _retry(self, run: Run, err: ProviderError, delivery: Delivery) -> bool:
        """Back off and come back, or (the pair's last delivery) move along the task's fallback chain;
        True when the task moved (its new attempt has its own message: this one is done)."""
        delay = backoff_seconds(delivery.receive_count, base=self.settings.retry_base_seconds,
                                cap=self.settings.retry_max_seconds, retry_after=err.retry_after)
        last = delivery.receive_count >= self.settings.max_receive_count
        wait = 0 if last else delay
        error = _error(err, retryable=True)
        if self.fallbacks.after_failure(run.task, err, error=error, exhausted=last, guard=run.mine):
            return True
        data = {"attempt": run.attempt, "delivery": delivery.receive_count, "error": error,
                "retry_in_seconds": wait, "final": last}
        updates = {"error": error, "lease_until": None, "lease_owner": None, "due_at": lease_end(wait)}
        if not self._write(run, EventType.RETRYING, data, updates, to=TaskStatus.RETRYING):
            return False
        logger.info("retrying later", extra={"task_id": run.task.id, "code": err.code, "delay": delay})
        # The last delivery comes straight back so SQS dead-letters it and the task fails promptly.
        delivery.postpone(wait)
        return False

    def _fail(self, run: Run, err: ProviderError) -> str:
        error = _error(err, retryable=False)
        self._write(run, EventType.FAILED, {"error": error}, to=TaskStatus.FAILED,
                    updates={"error": error, "completed_at": ids.now_iso(), "lease_until": None,
                             "lease_owner": None})
        logger.info("task failed", extra={"task_id": run.task.id, "code": err.code})
        return "failed"

    def _fail_unstarted(self, task: Task, err: ProviderError, attempt: int) -> str:
        error = _error(err, retryable=False)
        change = transition(TaskStatus.FAILED, now_iso=ids.now_iso(),
                            updates={"error": error, "completed_at": ids.now_iso(), "lease_until": None,
                                     "lease_owner": None},
                            guard=lambda t: t.attempt == attempt)
        self.store.record(task.id, EventType.FAILED, {"error": error}, change=change, current=task)
        logger.info("task failed", extra={"task_id": task.id, "code": err.code})
        return "failed"

    def _stored_text(self, run: Run, result: TextResult) -> dict[str, Any]:
        size = len(result.text.encode("utf-8", "surrogatepass"))
        stored: dict[str, Any] = {"chars": len(result.text), "bytes": size, "usage": result.usage,
                                  "cost_usd": pricing.cost_usd(run.task.provider, run.task.model, result.usage),
                                  "finish_reason": result.finish_reason,
                                  # the pair that produced it: a fallback's when the task moved along its chain
                                  "provider": str(run.task.provider), "model": run.task.model}
        if size > self.settings.inline_result_max_bytes:
            key = storage.output_key(run.task.owner, run.task.id, f"attempt-{run.attempt}.txt")
            storage.put_text(self.settings.bucket_name, key, result.text)
            stored["text_s3_key"] = key
        else:
            stored["text"] = result.text
        return stored

    def _complete(self, run: Run, stored: dict[str, Any]) -> str:
        done = self._write(run, EventType.COMPLETED, {"result": stored}, to=TaskStatus.SUCCEEDED,
                           updates={"result": stored, "error": None, "completed_at": ids.now_iso(),
                                    "lease_until": None, "lease_owner": None},
                           before=[(EventType.DELTA, delta) for delta in run.tail])
        return "succeeded" if done else "stopped"


def _error(err: ProviderError, *, retryable: bool) -> dict[str, Any]:
    error = {"code": err.code, "message": err.message[:ERROR_MESSAGE_MAX_CHARS], "retryable": retryable}
    if err.details is not None:
        error["details"] = err.details
    return error


def _seconds_until(iso_moment: str, now: datetime) -> int:
    try:
        end = datetime.fromisoformat(iso_moment.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return max(0, math.ceil((end - now).total_seconds()))
