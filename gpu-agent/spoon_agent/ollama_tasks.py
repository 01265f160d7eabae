"""What the agent runs on its Ollama: text and chat tasks (the runner's provider source) and model operations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskType
from spoonfeeder.models.task_record import Task
from spoonfeeder.providers.base import Credentials, ErrorCode, ProviderError, TextProvider
from spoonfeeder.tasks.deltas import TaskNoLongerRunning
from spoonfeeder.tasks.runner import RecordEvent

from spoon_agent.metrics import AgentMetrics
from spoon_agent.ollama_driver import OllamaModels, OllamaText

OPERATIONS = ("pull", "load", "unload", "delete")


@dataclass(frozen=True)
class OllamaProviders:
    """The runner's provider source on an agent: every task goes to this host's Ollama (no keys). With
    `auto_pull` (AGENT_AUTO_PULL), a model the host does not have yet is pulled before the task runs; without
    it, a task for such a model is handed back while another live agent has the model (`others_with`). `has`
    answers from the agent's inventory, not from Ollama."""

    url: str
    timeout: float
    models: OllamaModels
    simulated: bool = False
    auto_pull: bool = False
    others_with: Callable[[str], bool] = lambda model: False
    has: Callable[[str], bool] = lambda model: True
    pulled: Callable[[], None] = lambda: None  # after an automatic pull: the inventory beats again

    def runs_elsewhere(self, task: Task) -> bool:
        if task.type is TaskType.MODEL_OP or self.auto_pull or self.has(task.model):
            return False
        return self.others_with(task.model)

    def credentials(self, task: Task) -> Credentials:
        return Credentials(api_key="", base_url=self.url, simulated=self.simulated)

    def text_provider(self, task: Task, creds: Credentials) -> TextProvider:
        if self.auto_pull and not self.has(task.model):
            self.models.pull(task.model, lambda progress: None)
            self.pulled()
        endpoint = "chat" if task.type is TaskType.CHAT else "generate"
        return OllamaText(self.url, timeout=self.timeout, endpoint=endpoint)


@dataclass
class OllamaModelOperations:
    """Runs a model_op task: pull (with `model:pull` progress), load, unload or delete, on this agent's Ollama.

    `changed` runs after an operation succeeded and before the task completes (a heartbeat with the new
    inventory), so that whoever sees the task complete also sees the models it changed."""

    models: OllamaModels
    agent_id: str
    metrics: AgentMetrics
    changed: Callable[[], None] = lambda: None
    _pulled: dict[str, dict[str, int]] = field(default_factory=dict)

    def run(self, task: Task, record: RecordEvent) -> dict[str, Any]:
        snapshot = task.request_snapshot or {}
        op = snapshot.get("op")
        if op not in OPERATIONS:
            raise ProviderError.of(ErrorCode.BAD_REQUEST, provider_message=f"unknown model operation {op!r}")
        if snapshot.get("agent_id") not in (None, self.agent_id):
            raise ProviderError("WRONG_AGENT", f"addressed to agent {snapshot.get('agent_id')}, not this one",
                                retryable=False)
        name = task.model
        if op == "pull":
            detail = self.models.pull(name, self._progress(task.id, record))
            self._pulled.pop(task.id, None)
        elif op == "load":
            detail = self.models.load(name, keep_alive=snapshot.get("keep_alive"))
        elif op == "unload":
            detail = self.models.unload(name)
        else:
            detail = self.models.delete(name)
        self.changed()
        return {"op": op, "model": name, "agent_id": self.agent_id, "detail": detail}

    def _progress(self, task_id: str, record: RecordEvent) -> Callable[[dict[str, Any]], None]:
        seen = self._pulled.setdefault(task_id, {})

        def on_progress(progress: dict[str, Any]) -> None:
            digest, completed = progress.get("digest"), int(progress.get("completed") or 0)
            if digest:  # bytes pulled since the last report of this layer
                self.metrics.pull_bytes.inc(max(0, completed - seen.get(digest, 0)))
                seen[digest] = max(seen.get(digest, 0), completed)
            if not record(EventType.MODEL_PULL, progress):
                raise TaskNoLongerRunning  # cancelled: the driver closes the pull's stream

        return on_progress
