"""What a task is, where it runs and where it stands: plain enums every function shares.

No pydantic here (nor in anything the workers import at cold start): the API's contract models in
`models/tasks.py` use these same enums.
"""

from __future__ import annotations

from enum import StrEnum


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

#: Neutral options a provider has no way to honour: refused at create rather than silently dropped, and left
#: out when a fallback chain moves a task to that provider. (Anthropic's Messages API, version 2026-10-21,
#: takes no sampling parameters.)
UNSUPPORTED: dict[str, frozenset[str]] = {"anthropic": frozenset({"seed", "temperature", "top_p"})}
