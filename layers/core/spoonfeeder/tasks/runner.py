"""Running one delivery of a text task: start, stream, finish — or retry, fail, or skip.

A delivery may start the task only if it carries the task's current attempt and the status allows it
(queued, retrying, or running with an expired lease). So a duplicate delivery, a message of an older
attempt, or a cancelled task runs nothing and the message is simply acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from spoonfeeder import ids
from spoonfeeder.data import storage
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.models.tasks import Task, TaskStatus
from spoonfeeder.providers import credentials, registry
from spoonfeeder.providers.base import Credentials, ProviderError, TextRequest, TextResult
from spoonfeeder.settings import WorkerSettings
from spoonfeeder.tasks import dispatch
from spoonfeeder.tasks.deltas import DeltaCoalescer, TaskNoLongerRunning
from spoonfeeder.tasks.retry import backoff_seconds
from spoonfeeder.tasks.state import can_start, transition

logger = Logger(child=True)


class RetryLater(Exception):
    """The delivery failed in a retryable way; its message comes back after the backoff."""


@dataclass(frozen=True)
class Delivery:
    message: TaskMessage
    receive_count: int
    postpone: Callable[[int], None]  # make this message come back after N seconds


@dataclass
class TextTaskRunner:
    store: TaskStore
    settings: WorkerSettings
    lease_seconds: int

    def run(self, delivery: Delivery) -> str:
        """Process one delivery; returns what happened. Raises RetryLater when the message must return."""
        message = delivery.message
        task = self.store.get(message.task_id)
        if task is None or task.owner != message.owner:
            logger.warning("no such task for message; dropped", extra={"task_id": message.task_id})
            return "missing"
        if task.status is TaskStatus.PENDING and task.attempt == message.attempt:
            # The message overtook its sender's mark (send, then mark): the delivery proves it was sent.
            task = dispatch.mark_queued(self.store, task, by="worker")
        if not can_start(task, attempt=message.attempt, now_iso=ids.now_iso()):
            logger.info("delivery skipped", extra={"task_id": task.id, "status": str(task.status)})
            return "skipped"
        try:
            creds = credentials.resolve(self.settings.provider_secret_arn, task.provider)
        except ProviderError as err:
            return self._fail(task, err, message.attempt)
        started = self._start(task, message.attempt, creds)
        if started is None:
            return "skipped"
        try:
            result = self._generate(started, creds)
        except TaskNoLongerRunning:
            logger.info("task left running while streaming; stopped", extra={"task_id": task.id})
            return "stopped"
        except ProviderError as err:
            if not err.retryable:
                return self._fail(started, err, message.attempt)
            self._retry(started, err, delivery)
            raise RetryLater(err.code) from err
        except Exception as exc:  # a bug or an unexpected SDK failure: retried, then dead-lettered
            logger.exception("unexpected failure running task", extra={"task_id": task.id})
            self._retry(started, ProviderError("INTERNAL_ERROR", type(exc).__name__, retryable=True), delivery)
            raise RetryLater("INTERNAL_ERROR") from exc
        return self._complete(started, result)

    # ------------------------------------------------------------------ steps
    def _start(self, task: Task, attempt: int, creds: Credentials) -> Task | None:
        now = ids.now()
        metadata = dict(task.metadata)
        if creds.simulated:
            logger.warning("SIMULATED provider answers this task (local cloud offline mode)",
                           extra={"task_id": task.id, "provider": str(task.provider)})
            metadata["simulated"] = True
        change = transition(
            TaskStatus.RUNNING, now_iso=ids.iso(now),
            updates={"started_at": task.started_at or ids.iso(now), "metadata": metadata,
                     "lease_until": ids.iso(now + timedelta(seconds=self.lease_seconds))},
            guard=lambda t: t.attempt == attempt,
        )
        moved = self.store.record(task.id, EventType.STARTED, {"attempt": attempt}, change=change)
        return moved[0] if moved else None

    def _generate(self, task: Task, creds: Credentials) -> TextResult:
        snapshot = task.request_snapshot
        request = TextRequest(model=snapshot["model"], messages=snapshot["messages"],
                              options=snapshot.get("options", {}))
        provider = registry.text_provider(task.provider, creds, timeout=self.settings.provider_timeout_seconds)
        coalescer = DeltaCoalescer(lambda text, index: self._delta(task, text, index),
                                   interval=self.settings.delta_flush_seconds)
        result = provider.stream(request, coalescer.add)
        coalescer.flush()
        return result

    def _delta(self, task: Task, text: str, index: int) -> bool:
        def still_running(current: Task) -> Task | None:
            ok = current.status is TaskStatus.RUNNING and current.attempt == task.attempt
            return current if ok else None

        return self.store.record(task.id, EventType.DELTA, {"text": text, "index": index},
                                 change=still_running) is not None

    def _retry(self, task: Task, err: ProviderError, delivery: Delivery) -> None:
        delay = backoff_seconds(delivery.receive_count, base=self.settings.retry_base_seconds,
                                cap=self.settings.retry_max_seconds, retry_after=err.retry_after)
        last = delivery.receive_count >= self.settings.max_receive_count
        error = {"code": err.code, "message": err.message, "retryable": True}
        change = transition(TaskStatus.RETRYING, now_iso=ids.now_iso(),
                            updates={"error": error, "lease_until": None},
                            guard=lambda t: t.attempt == task.attempt)
        data = {"attempt": task.attempt, "delivery": delivery.receive_count, "error": error,
                "retry_in_seconds": 0 if last else delay, "final": last}
        if self.store.record(task.id, EventType.RETRYING, data, change=change) is None:
            return
        logger.info("retrying later", extra={"task_id": task.id, "code": err.code, "delay": delay})
        # The last delivery comes straight back so SQS dead-letters it and the task fails promptly.
        delivery.postpone(0 if last else delay)

    def _fail(self, task: Task, err: ProviderError, attempt: int) -> str:
        error = {"code": err.code, "message": err.message, "retryable": False}
        change = transition(TaskStatus.FAILED, now_iso=ids.now_iso(),
                            updates={"error": error, "completed_at": ids.now_iso(), "lease_until": None},
                            guard=lambda t: t.attempt == attempt)
        self.store.record(task.id, EventType.FAILED, {"error": error}, change=change)
        logger.info("task failed", extra={"task_id": task.id, "code": err.code})
        return "failed"

    def _complete(self, task: Task, result: TextResult) -> str:
        stored: dict[str, Any] = {"chars": len(result.text), "usage": result.usage,
                                  "finish_reason": result.finish_reason}
        if len(result.text) > self.settings.inline_result_max_chars:
            key = storage.output_key(task.owner, task.id, f"attempt-{task.attempt}.txt")
            storage.put_text(self.settings.bucket_name, key, result.text)
            stored["text_s3_key"] = key
        else:
            stored["text"] = result.text
        change = transition(TaskStatus.SUCCEEDED, now_iso=ids.now_iso(),
                            updates={"result": stored, "error": None, "completed_at": ids.now_iso(),
                                     "lease_until": None},
                            guard=lambda t: t.attempt == task.attempt)
        done = self.store.record(task.id, EventType.COMPLETED, {"result": stored}, change=change)
        return "succeeded" if done else "stopped"


def fail_exhausted(store: TaskStore, message: TaskMessage) -> bool:
    """A dead-lettered message: its task ran out of attempts. Fails it, unless it already finished."""
    current = store.get(message.task_id)
    last = current.error.code if current and current.error else None
    error = {"code": "RETRIES_EXHAUSTED", "retryable": False,
             "message": "gave up: every delivery of this attempt failed" + (f" (last error: {last})" if last else "")}
    change = transition(TaskStatus.FAILED, now_iso=ids.now_iso(),
                        updates={"error": error, "completed_at": ids.now_iso(), "lease_until": None},
                        guard=lambda t: t.attempt == message.attempt and t.owner == message.owner)
    return store.record(message.task_id, EventType.FAILED, {"error": error}, change=change) is not None
