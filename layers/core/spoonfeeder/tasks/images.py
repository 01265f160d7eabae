"""Running an image task: one provider call, then each image stored in S3 before the result names it.

Outputs go to `outputs/{owner}/{task}/attempt-{n}/{index}.{ext}`: a later attempt (a user's retry) writes
under its own prefix, so the result of one attempt never names an image of another. The table and the events
keep only keys, types, sizes and dimensions, never image bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spoonfeeder import image_format
from spoonfeeder.data import storage
from spoonfeeder.models.task_record import Task
from spoonfeeder.providers.base import Credentials
from spoonfeeder.providers.openai_images import ImageRequest, OpenAIImages
from spoonfeeder.tasks.deltas import TaskNoLongerRunning

#: Records a `task:progress` event of the run; False when the task is no longer this run's (cancelled).
Progress = Callable[[dict[str, Any]], bool]


def image_request(task: Task) -> ImageRequest:
    snapshot = task.request_snapshot or {}
    prompt = next(m["content"] for m in reversed(snapshot["messages"]) if m.get("role") == "user")
    return ImageRequest(model=snapshot["model"], prompt=prompt, parameters=dict(snapshot.get("image") or {}))


@dataclass(frozen=True)
class ImageTaskRun:
    task: Task
    attempt: int
    bucket: str
    progress: Progress

    def produce(self, credentials: Credentials, *, timeout: float) -> dict[str, Any]:
        """Generate, store every image, and return the result to record (raises ProviderError as the SDK
        call fails, TaskNoLongerRunning when the task was cancelled meanwhile)."""
        request = image_request(self.task)
        self._report({"stage": "generating", "model": request.model, "n": request.parameters.get("n", 1)})
        generated = OpenAIImages(credentials, timeout=timeout).generate(request)
        # Recorded before any put: a run taken over during the (long) provider call stops here, and never
        # writes over the images of the run that took it over.
        self._report({"stage": "received", "images": len(generated.images)})
        outputs = []
        for index, data in enumerate(generated.images):
            output = self._store(index, data)
            outputs.append(output)
            self._report({"stage": "stored", "stored": index + 1, "of": len(generated.images), "output": output})
        result: dict[str, Any] = {"outputs": outputs, "usage": generated.usage}
        if generated.revised_prompt:
            result["revised_prompt"] = generated.revised_prompt
        return result

    def _store(self, index: int, data: bytes) -> dict[str, Any]:
        found = image_format.identify(data)
        key = storage.output_key(self.task.owner, self.task.id, f"attempt-{self.attempt}/{index}.{found.extension}")
        storage.put_bytes(self.bucket, key, data, found.content_type)
        output: dict[str, Any] = {"index": index, "key": key, "content_type": found.content_type, "bytes": len(data)}
        if found.width is not None:
            output.update(width=found.width, height=found.height)
        return output

    def _report(self, data: dict[str, Any]) -> None:
        if not self.progress(data):
            raise TaskNoLongerRunning
