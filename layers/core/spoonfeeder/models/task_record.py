"""The task as stored (one table item) and its parts: plain records (models/record.py), no pydantic.

The API's contract models (models/tasks.py: TaskView, TaskSummary) take the parts as field types, so the
OpenAPI document describes `TaskResult`, `TaskError`, `Usage` and `TaskOutput` from these very classes: a
field's `metadata` is its description there, and a class docstring its description (hence comments, not
docstrings, on the parts the document shows without one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spoonfeeder.models.kinds import Provider, TaskStatus, TaskType
from spoonfeeder.models.record import Record


@dataclass
class Usage(Record):
    """Tokens of one run, under the same names for every provider."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


@dataclass
class TaskOutput(Record):
    """One stored output of a task (an image, a video, audio …): in S3 at `key`, downloaded through
    GET /api/tasks/{id}/outputs/{index}."""

    index: int
    key: str
    content_type: str
    bytes: int = field(metadata={"description": "Size of the stored object"})
    width: int | None = None
    height: int | None = None
    node_id: str | None = field(default=None, metadata={"description": "The ComfyUI node that wrote it"})
    filename: str | None = field(default=None, metadata={"description": "Its name on ComfyUI"})
    kind: str | None = field(default=None, metadata={
        "description": "What ComfyUI's history listed it under: images, gifs, videos, audio …"})


# What a finished run produced (text, or stored outputs), with its usage and the pair that produced it.
@dataclass
class TaskResult(Record):
    text: str | None = None
    text_s3_key: str | None = field(default=None, metadata={
        "description": "Set instead of text when the text is large."})
    chars: int = 0
    bytes: int = field(default=0, metadata={"description": "Size of the text in UTF-8 bytes."})
    usage: Usage | None = None
    cost_usd: float | None = field(default=None, metadata={
        "description": "Estimated from the model catalog's list prices and the usage (USD, 6 decimals); null when "
                       "the model has no known price"})
    finish_reason: str | None = None
    outputs: list[TaskOutput] | None = field(default=None, metadata={
        "description": "Stored outputs (images), each downloaded at GET /api/tasks/{id}/outputs/{index}"})
    revised_prompt: str | None = field(default=None, metadata={
        "description": "The prompt as the provider rewrote it (dall-e-3)"})
    provider: Provider | None = field(default=None, metadata={
        "description": "The provider that produced the result."})
    model: str | None = field(default=None, metadata={
        "description": "The model that produced it (a fallback's, maybe)."})
    prompt_id: str | None = field(default=None, metadata={"description": "ComfyUI's id of the generation's prompt"})
    op: str | None = field(default=None, metadata={
        "description": "A model operation's kind: pull, load, unload or delete."})
    agent_id: str | None = field(default=None, metadata={
        "description": "The GPU agent that ran the model operation."})
    detail: dict[str, Any] | None = field(default=None, metadata={
        "description": "What Ollama answered to the model operation."})


# Why a task failed (or why its last attempt did, while it retries).
@dataclass
class TaskError(Record):
    code: str
    message: str
    retryable: bool = False
    details: dict[str, Any] | None = field(default=None, metadata={
        "description": "The provider's own words and HTTP status (provider_message, provider_status)."})


@dataclass(kw_only=True)
class Task(Record):
    """A task as stored (one table item); `seq` is the per-task event counter, `lease_until` a run lease.

    The request is stored once, in `request_snapshot`; when its JSON is large it lives in S3 at
    `request_s3_key` instead, and the item keeps only the key and its size (`request_bytes`).
    """

    id: str
    owner: str
    type: TaskType
    provider: Provider
    model: str
    name: str | None = None
    status: TaskStatus
    request_snapshot: dict[str, Any] | None = None
    request_s3_key: str | None = None
    request_bytes: int = 0
    attempt: int = 1
    seq: int = 0
    result: TaskResult | None = None
    error: TaskError | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str
    updated_at: str
    started_at: str | None = None
    completed_at: str | None = None
    # When the sweeper should look again if nothing happens (a retry's backoff end, a re-send's grace end).
    due_at: str | None = None
    resends: int = 0
    lease_until: str | None = None
    lease_owner: str | None = None
    lost_runs: int = 0
    # What the task belongs to. A ComfyUI generation is a task: its session and workflow, and the parameters
    # it ran with (denormalised for the session's filters). A batch's task: its batch and input line.
    session_id: str | None = None
    workflow_id: str | None = None
    parameters: dict[str, Any] | None = None
    rerun_of: str | None = None
    batch_id: str | None = None
    custom_id: str | None = None
    batch_line: int | None = None
