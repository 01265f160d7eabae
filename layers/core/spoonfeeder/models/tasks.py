"""The task: one unit of generation, as stored and as shown."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class TaskType(StrEnum):
    TEXT = "text"
    CHAT = "chat"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    MODEL_OP = "model_op"
    SUMMARIZE = "summarize"
    PIPELINE_NODE = "pipeline_node"


class Provider(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    OLLAMA = "ollama"
    COMFYUI = "comfyui"


class TaskStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})


# defer_build on the models only the API uses: their validators are built when the API first uses them, and
# never in the workers, which import this module for Task (see docs/benchmarks.md, cold start).
class TextOptions(BaseModel):
    """Generation options for text tasks; ranges follow the providers' own limits."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    temperature: float | None = Field(default=None, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, ge=1, le=128_000)
    # OpenAI takes at most 4 stop sequences (Gemini 5, Anthropic does not say); 256 characters each is far
    # beyond any real stop sequence and keeps the stored request small.
    stop: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] | None = Field(
        default=None, max_length=4)
    # OpenAI's seed is a signed 64-bit integer.
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)


class TaskCreate(BaseModel):
    """Body of POST /api/tasks."""

    model_config = ConfigDict(extra="forbid", defer_build=True, json_schema_extra={"examples": [
        {"type": "text", "provider": "openai", "prompt": "Say hello", "options": {"temperature": 0.2}}]})

    type: TaskType
    provider: Provider
    model: str | None = Field(default=None, min_length=1, max_length=200)
    prompt: str = Field(min_length=1, description="The prompt; its size limit answers 413 when exceeded.")
    system: str | None = Field(default=None, max_length=20_000)
    name: str | None = Field(default=None, max_length=200)
    options: TextOptions = Field(default_factory=TextOptions)


class TaskError(BaseModel):
    code: str
    message: str
    retryable: bool = False


class Usage(BaseModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class TaskResult(BaseModel):
    text: str | None = None
    text_s3_key: str | None = Field(default=None, description="Set instead of text when the text is large.")
    chars: int = 0
    bytes: int = Field(default=0, description="Size of the text in UTF-8 bytes.")
    usage: Usage | None = None
    finish_reason: str | None = None


class Task(BaseModel):
    """A task as stored (one table item); `seq` is the per-task event counter, `lease_until` a run lease.

    The request is stored once, in `request_snapshot`; when its JSON is large it lives in S3 at
    `request_s3_key` instead, and the item keeps only the key and its size (`request_bytes`).
    """

    model_config = ConfigDict(validate_assignment=True)

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
    metadata: dict[str, Any] = Field(default_factory=dict)
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


class TaskSummary(BaseModel):
    """A task as GET /api/tasks lists it: only what the owner index (gsi1) projects, no request or result."""

    model_config = ConfigDict(defer_build=True)

    id: str
    type: TaskType
    provider: Provider
    model: str
    name: str | None = None
    status: TaskStatus
    attempt: int = 1
    error: TaskError | None = None
    created_at: str
    completed_at: str | None = None


class TaskView(BaseModel):
    """A task as the API shows it to its owner; `input` and `options` are read from the request snapshot."""

    model_config = ConfigDict(defer_build=True)

    id: str
    type: TaskType
    provider: Provider
    model: str
    name: str | None
    status: TaskStatus
    input: dict[str, Any]
    options: dict[str, Any]
    request_snapshot: dict[str, Any] | None
    attempt: int
    last_seq: int
    lost_runs: int = 0
    result: TaskResult | None
    error: TaskError | None
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    started_at: str | None
    completed_at: str | None

    @classmethod
    def of(cls, task: Task) -> TaskView:
        data = task.model_dump(exclude={"owner", "seq", "lease_until", "lease_owner", "request_s3_key",
                                        "request_bytes", "due_at", "resends"})
        snapshot = task.request_snapshot or {}
        given: dict[str, Any] = {}
        for message in snapshot.get("messages", []):
            if message.get("role") == "system":
                given["system"] = message.get("content")
            elif message.get("role") == "user":
                given["prompt"] = message.get("content")
        return cls(**data, input=given, options=snapshot.get("options", {}), last_seq=task.seq)


class TaskFilters(BaseModel):
    model_config = ConfigDict(defer_build=True)

    status: TaskStatus | None = None
    type: TaskType | None = None
    provider: Provider | None = None
    created_from: str | None = None
    created_to: str | None = None
