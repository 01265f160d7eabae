"""Which queue runs a task, as a pure function of what was asked (DESIGN §4)."""

from __future__ import annotations

from enum import StrEnum

from spoonfeeder.errors import Forbidden, Unprocessable
from spoonfeeder.models.images import DEFAULT_IMAGE_MODEL
from spoonfeeder.models.kinds import Provider, TaskType


class Lane(StrEnum):
    LLM = "llm-tasks"  # Lambda workers calling cloud providers
    GPU = "gpu-tasks"  # the GPU agent driving Ollama and ComfyUI
    AGENT = "agent-inbox"  # one GPU agent's own inbox in the table (a model operation on that agent)


CLOUD_PROVIDERS = frozenset({Provider.OPENAI, Provider.ANTHROPIC, Provider.GEMINI})
TEXT_TYPES = frozenset({TaskType.TEXT, TaskType.CHAT, TaskType.SUMMARIZE})
MEDIA_TYPES = frozenset({TaskType.IMAGE, TaskType.VIDEO, TaskType.AUDIO})

# What can run today; everything else is refused with 422 rather than queued to fail later.
RUNNABLE = frozenset({
    *((task_type, provider) for task_type in (TaskType.TEXT, TaskType.CHAT)
      for provider in (Provider.OPENAI, Provider.ANTHROPIC, Provider.GEMINI)),
    (TaskType.IMAGE, Provider.OPENAI),
    (TaskType.IMAGE, Provider.COMFYUI),
    (TaskType.TEXT, Provider.OLLAMA),
    (TaskType.CHAT, Provider.OLLAMA),
})
#: Tasks only the models API makes, for administrators: commands to one GPU agent (pull, load, unload, delete).
ADMIN_COMMANDS = frozenset({(TaskType.MODEL_OP, Provider.OLLAMA)})

DEFAULT_MODELS = {
    Provider.OPENAI: "gpt-4o-mini",
    Provider.ANTHROPIC: "claude-sonnet-4-6",  # claude-sonnet-4-5 reaches its end of life on 2026-11-30
    Provider.GEMINI: "gemini-2.5-flash",
    Provider.OLLAMA: "llama3.2",
    Provider.COMFYUI: "comfyui",  # a generation's model is its workflow's checkpoint, when it has one
}


def lane_for(task_type: TaskType, provider: Provider) -> Lane:
    if (task_type, provider) in ADMIN_COMMANDS:
        return Lane.AGENT
    if task_type in TEXT_TYPES and provider in CLOUD_PROVIDERS:
        return Lane.LLM
    if task_type is TaskType.IMAGE and provider is Provider.OPENAI:
        return Lane.LLM
    if provider is Provider.OLLAMA or provider is Provider.COMFYUI:
        return Lane.GPU
    raise Unprocessable(f"{provider} does not run {task_type} tasks", code="UNSUPPORTED_COMBINATION",
                        details={"type": str(task_type), "provider": str(provider)})


def ensure_runnable(task_type: TaskType, provider: Provider, *, admin: bool = False) -> Lane:
    lane = lane_for(task_type, provider)
    if (task_type, provider) in ADMIN_COMMANDS:
        if not admin:
            raise Forbidden("model operations are for administrators (the user pool's group admin)")
        return lane
    if (task_type, provider) not in RUNNABLE:
        raise Unprocessable(f"{task_type} tasks on {provider} are not available yet",
                            code="NOT_AVAILABLE", details={"type": str(task_type), "provider": str(provider)})
    return lane


def default_model(provider: Provider, task_type: TaskType = TaskType.TEXT) -> str:
    if task_type is TaskType.IMAGE and provider is Provider.OPENAI:
        return DEFAULT_IMAGE_MODEL
    model = DEFAULT_MODELS.get(provider)
    if model is None:
        raise Unprocessable(f"{provider} needs an explicit model", code="MODEL_REQUIRED")
    return model
