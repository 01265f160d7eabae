"""The runner's provider source on an agent: this host's Ollama for text and chat, its ComfyUI for generations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spoonfeeder.models.kinds import Provider
from spoonfeeder.models.task_record import Task
from spoonfeeder.providers.base import Credentials, TextProvider

from spoon_agent.ollama_tasks import OllamaProviders


@dataclass(frozen=True)
class HostProviders:
    """A generation is handed back when this agent's ComfyUI is down (or absent) while another live agent's is
    up; with no ComfyUI anywhere it runs here and fails or retries as its driver says."""

    ollama: OllamaProviders
    comfyui_up: Callable[[], bool] = lambda: False
    others_with_comfyui: Callable[[], bool] = lambda: False
    comfyui_simulated: bool = False

    def runs_elsewhere(self, task: Task) -> bool:
        if task.provider is Provider.COMFYUI:
            return not self.comfyui_up() and self.others_with_comfyui()
        return self.ollama.runs_elsewhere(task)

    def credentials(self, task: Task) -> Credentials:
        if task.provider is Provider.COMFYUI:
            return Credentials(api_key="", simulated=self.comfyui_simulated)
        return self.ollama.credentials(task)

    def text_provider(self, task: Task, creds: Credentials) -> TextProvider:
        return self.ollama.text_provider(task, creds)
