"""What the agent runs on its ComfyUI: a generation (a comfyui task), from its stored workflow to its outputs in S3.

The workflow in the task's request snapshot is final — the API applied the parameters and resolved the seed
when it created the task — and stored as JSON text, so it is sent as those very bytes, and a rerun sends the
same again. Only input images differ: a value that is an S3 key under the owner's `uploads/` prefix is uploaded
to ComfyUI first and replaced by the name ComfyUI gives it (then the workflow is sent re-serialised).

Every output the history lists, under any key (images, gifs, videos, audio …), is streamed from /view into a
temporary file (never whole in memory) and uploaded to `outputs/{owner}/{task}/attempt-{n}/{index}.{ext}`. A run
taken over after a lost agent writes the same keys, so the task ends with one set of outputs.

Cancel: a progress write that finds the task no longer this run's raises, and the driver interrupts the prompt;
a watcher also reads the task's status every `cancel_check_seconds`, for nodes that run long without progress.
"""

from __future__ import annotations

import json
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from aws_lambda_powertools import Logger
from spoonfeeder.data import storage
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import Task
from spoonfeeder.providers.base import ErrorCode, ProviderError
from spoonfeeder.tasks.deltas import TaskNoLongerRunning
from spoonfeeder.tasks.runner import RecordEvent

from spoon_agent.comfyui_driver import ComfyUI, Interrupted
from spoon_agent.comfyui_wire import Output

logger = Logger(child=True)

#: Held in memory before a fetched output spills to disk.
SPOOL_BYTES = 1024 * 1024


def upload_prefix(owner: str) -> str:
    return f"uploads/{owner}/"


@dataclass
class ComfyUIGenerations:
    """Runs generation tasks on this agent's ComfyUI (`client` None: this agent has no ComfyUI)."""

    client: ComfyUI | None
    store: TaskStore
    bucket: str
    ready_seconds: float = 60.0
    cancel_check_seconds: float = 2.0

    def run(self, task: Task, attempt: int, record: RecordEvent) -> dict[str, Any]:
        if self.client is None:
            raise ProviderError("NOT_AVAILABLE", "no ComfyUI on this GPU agent", retryable=False)
        snapshot = task.request_snapshot or {}
        workflow = snapshot.get("workflow")
        if not isinstance(workflow, str) or not workflow:
            raise ProviderError(ErrorCode.BAD_REQUEST, "the task has no ComfyUI workflow", retryable=False)
        self.client.wait_ready(self.ready_seconds)
        if upload_prefix(task.owner) in workflow:
            workflow = json.dumps(self._with_uploads(task, json.loads(workflow)))

        def on_progress(progress: dict[str, Any]) -> None:
            if not record(EventType.PROGRESS, progress):
                raise TaskNoLongerRunning

        prompt_id = str(uuid.uuid4())
        try:
            with self._cancel_watch(task, attempt, prompt_id):
                result = self.client.run(workflow, on_progress, prompt_id=prompt_id)
        except Interrupted as exc:  # our watcher's interrupt (the task was cancelled), or someone else's
            if self._still_ours(task, attempt):
                raise ProviderError(ErrorCode.PROVIDER_UNAVAILABLE, "the prompt was interrupted on ComfyUI",
                                    retryable=True) from exc
            raise TaskNoLongerRunning from exc
        outputs = [self._store(task, attempt, output) for output in result.outputs]
        return {"outputs": outputs, "provider": "comfyui", "model": task.model, "prompt_id": result.prompt_id}

    # ------------------------------------------------------------------ inputs
    def _with_uploads(self, task: Task, workflow: dict[str, Any]) -> dict[str, Any]:
        """The workflow with each upload id (an S3 key under the owner's uploads) replaced by ComfyUI's name."""
        prefix = upload_prefix(task.owner)
        for node in workflow.values():
            inputs = node.get("inputs") if isinstance(node, dict) else None
            for name, value in (inputs or {}).items():
                if isinstance(value, str) and value.startswith(prefix) and ".." not in value:
                    inputs[name] = self._upload(value)
        return workflow

    def _upload(self, key: str) -> str:
        assert self.client is not None
        body = storage.open_object(self.bucket, key)
        try:
            return self.client.upload_image(PurePosixPath(key).name, body)["name"]
        finally:
            body.close()

    # ------------------------------------------------------------------ outputs
    def _store(self, task: Task, attempt: int, output: Output) -> dict[str, Any]:
        assert self.client is not None
        extension = PurePosixPath(output.filename).suffix.lstrip(".").lower() or "bin"
        key = storage.output_key(task.owner, task.id, f"attempt-{attempt}/{output.index}.{extension}")
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            fetched = self.client.fetch(output, spool)  # type: ignore[arg-type]
            spool.seek(0)
            storage.put_stream(self.bucket, key, spool, fetched["content_type"])  # type: ignore[arg-type]
        return {"index": output.index, "key": key, **fetched, "node_id": output.node, "filename": output.filename,
                "kind": output.kind}

    # ------------------------------------------------------------------ cancel
    def _still_ours(self, task: Task, attempt: int) -> bool:
        current = self.store.get(task.id)
        return (current is not None and current.status is TaskStatus.RUNNING and current.attempt == attempt
                and current.lease_owner == task.lease_owner)

    @contextmanager
    def _cancel_watch(self, task: Task, attempt: int, prompt_id: str) -> Iterator[None]:
        """While the prompt runs: if the task stops being this run's (cancelled), interrupt ComfyUI."""
        done = threading.Event()
        client = self.client
        assert client is not None

        def watch() -> None:
            while not done.wait(self.cancel_check_seconds):
                try:
                    if not self._still_ours(task, attempt):
                        logger.info("task cancelled during its generation: interrupting", extra={"task_id": task.id})
                        client.interrupt(prompt_id)
                        return
                except Exception:  # a missed check: the next one, or the next progress write, notices
                    logger.warning("cancel check failed", extra={"task_id": task.id}, exc_info=True)

        watcher = threading.Thread(target=watch, name=f"cancel-{task.id}", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()

