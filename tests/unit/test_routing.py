from __future__ import annotations

import pytest
from spoonfeeder.errors import Forbidden, Unprocessable
from spoonfeeder.models.kinds import Provider, TaskType
from spoonfeeder.tasks.routing import Lane, ensure_runnable, lane_for


@pytest.mark.parametrize(("task_type", "provider", "lane"), [
    (TaskType.TEXT, Provider.OPENAI, Lane.LLM),
    (TaskType.CHAT, Provider.ANTHROPIC, Lane.LLM),
    (TaskType.TEXT, Provider.GEMINI, Lane.LLM),
    (TaskType.IMAGE, Provider.OPENAI, Lane.LLM),
    (TaskType.TEXT, Provider.OLLAMA, Lane.GPU),
    (TaskType.CHAT, Provider.OLLAMA, Lane.GPU),
    (TaskType.MODEL_OP, Provider.OLLAMA, Lane.AGENT),
    (TaskType.IMAGE, Provider.COMFYUI, Lane.GPU),
    (TaskType.VIDEO, Provider.COMFYUI, Lane.GPU),
])
def test_lanes_follow_the_design(task_type: TaskType, provider: Provider, lane: Lane) -> None:
    assert lane_for(task_type, provider) is lane


def test_impossible_combinations_are_refused() -> None:
    with pytest.raises(Unprocessable) as err:
        lane_for(TaskType.VIDEO, Provider.ANTHROPIC)
    assert err.value.code == "UNSUPPORTED_COMBINATION"


def test_combinations_without_a_worker_yet_are_refused_not_queued() -> None:
    assert ensure_runnable(TaskType.TEXT, Provider.OPENAI) is Lane.LLM
    assert ensure_runnable(TaskType.IMAGE, Provider.COMFYUI) is Lane.GPU
    with pytest.raises(Unprocessable) as err:
        ensure_runnable(TaskType.VIDEO, Provider.COMFYUI)
    assert err.value.code == "NOT_AVAILABLE"


def test_ollama_text_and_chat_run_on_the_gpu_lane() -> None:
    assert ensure_runnable(TaskType.TEXT, Provider.OLLAMA) is Lane.GPU
    assert ensure_runnable(TaskType.CHAT, Provider.OLLAMA) is Lane.GPU


def test_model_operations_are_for_admins_only() -> None:
    assert ensure_runnable(TaskType.MODEL_OP, Provider.OLLAMA, admin=True) is Lane.AGENT
    with pytest.raises(Forbidden):
        ensure_runnable(TaskType.MODEL_OP, Provider.OLLAMA)
