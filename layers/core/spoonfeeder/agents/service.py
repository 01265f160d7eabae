"""Agent use cases behind the HTTP API: the live fleet, the Ollama models it reports, and model operations.

Every read is one Query of the registry (agents' last heartbeats, data/agents.py). A model operation is a task
(type model_op) addressed to one agent: written like every task (created and queued in one transaction) and
handed to that agent's inbox by tasks/dispatch.py, so retry and the sweeper re-send it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spoonfeeder import ids
from spoonfeeder.agents import fleet
from spoonfeeder.catalog.ollama_names import canonical
from spoonfeeder.data.agents import AgentRegistry
from spoonfeeder.errors import NotFound, Unprocessable
from spoonfeeder.models.agents import AgentView, OllamaModelStatus
from spoonfeeder.models.catalog import ModelInfo
from spoonfeeder.models.kinds import Provider, TaskStatus, TaskType
from spoonfeeder.models.task_record import Task
from spoonfeeder.tasks.service import TaskService


def agent_not_found(agent_id: str) -> NotFound:
    return NotFound(f"no live GPU agent {agent_id!r}", code="AGENT_NOT_FOUND", details={"agent_id": agent_id})


def model_not_found(name: str) -> NotFound:
    return NotFound(f"no live GPU agent has the Ollama model {name!r}", code="MODEL_NOT_FOUND",
                    details={"id": f"ollama/{name}"})


@dataclass
class AgentService:
    registry: AgentRegistry
    tasks: TaskService

    # ------------------------------------------------------------------ the fleet
    def agents(self) -> list[AgentView]:
        return fleet.views(self.registry.live())

    def agent(self, agent_id: str) -> AgentView:
        report = self.registry.get(agent_id)
        found = fleet.views([report] if report else [])
        if not found:
            raise agent_not_found(agent_id)
        return found[0]

    # ------------------------------------------------------------------ Ollama models
    def ollama_models(self) -> list[ModelInfo]:
        """A source of the model directory: the Ollama models the live agents report."""
        return fleet.ollama_models(self.agents())

    def model(self, name: str) -> ModelInfo:
        name = canonical(name)
        placed = fleet.placement(self.agents(), name)
        if placed is None:
            raise model_not_found(name)
        return fleet.model_info(name, placed)

    def status(self, name: str) -> OllamaModelStatus:
        placed = self.model(name).ollama
        assert placed is not None
        return OllamaModelStatus(id=f"ollama/{canonical(name)}", name=canonical(name),
                                 status="loaded" if placed.loaded_on else "not_loaded",
                                 installed_on=placed.installed_on, loaded_on=placed.loaded_on)

    def check_model(self, provider: str, model: str) -> None:
        """Before an Ollama task is written: 422 NOT_AVAILABLE unless a live agent has the model or may pull it."""
        if provider != Provider.OLLAMA:
            return
        agents = self.agents()
        if not fleet.can_run(agents, model):
            raise Unprocessable(
                f"no live GPU agent has the Ollama model {canonical(model)!r}, and none may pull it: an administrator "
                f"can pull it (POST /api/models/ollama/{canonical(model)}/pull), or run an agent with "
                "AGENT_AUTO_PULL=true", code="NOT_AVAILABLE",
                details={"provider": "ollama", "model": model, "live_agents": len(agents)})

    # ------------------------------------------------------------------ model operations
    def comfyui_agents(self) -> list[dict[str, Any]]:
        """The live agents whose ComfyUI answered their last heartbeat."""
        return [agent for agent in self.registry.live() if (agent.get("comfyui") or {}).get("up")]

    def check_comfyui(self) -> None:
        """Before a generation is written: 422 NOT_AVAILABLE unless a live agent's ComfyUI is up."""
        if not self.comfyui_agents():
            raise Unprocessable("no live GPU agent has ComfyUI running: start an agent with COMFYUI_URL",
                                code="NOT_AVAILABLE", details={"provider": "comfyui"})

    def comfyui_options(self) -> dict[str, list[str]]:
        """The union of what the live agents' ComfyUI servers offer, each name once, and which agents."""
        agents = self.comfyui_agents()
        found: dict[str, list[str]] = {"agents": [str(agent["agent_id"]) for agent in agents]}
        for name in ("checkpoints", "loras", "samplers", "schedulers"):
            choices = (choice for agent in agents for choice in (agent["comfyui"].get("options") or {}).get(name, []))
            found[name] = list(dict.fromkeys(choices))
        return found

    def command(self, owner: str, op: fleet.Operation, name: str, *, agent_id: str | None = None,
                keep_alive: str | int | None = None, trace_id: str | None = None) -> dict[str, object]:
        """Create the model_op task for `op` on the named agent, or on the one `fleet.choose` picks; returns its
        view. Refused before anything is written: an agent that is not live (404 AGENT_NOT_FOUND), a model the
        agent does not have (404 MODEL_NOT_FOUND, except for a pull), no agent to pull on (422 NOT_AVAILABLE)."""
        name = canonical(name)
        agents = self.agents()
        if agent_id is not None:
            agent = next((a for a in agents if a.agent_id == agent_id), None)
            if agent is None:
                raise agent_not_found(agent_id)
            if op != "pull" and not (fleet.installed(agent, name) or fleet.loaded(agent, name)):
                raise NotFound(f"GPU agent {agent_id!r} does not have the Ollama model {name!r}",
                               code="MODEL_NOT_FOUND", details={"id": f"ollama/{name}", "agent_id": agent_id})
        else:
            agent = fleet.choose(agents, op, name)
            if agent is None and op == "pull":
                raise Unprocessable("no live GPU agent with a running Ollama to pull on", code="NOT_AVAILABLE",
                                    details={"live_agents": len(agents)})
            if agent is None:
                raise model_not_found(name)
        snapshot: dict[str, object] = {"op": op, "provider": str(Provider.OLLAMA), "model": name,
                                       "agent_id": agent.agent_id}
        if keep_alive is not None:
            snapshot["keep_alive"] = keep_alive
        at = ids.now_iso()
        task = Task(id=ids.new_id(), owner=owner, type=TaskType.MODEL_OP, provider=Provider.OLLAMA, model=name,
                    name=f"{op} {name}", status=TaskStatus.QUEUED, request_snapshot=snapshot,
                    metadata={"agent_id": agent.agent_id}, created_at=at, updated_at=at)
        return self.tasks.submit(task, trace_id=trace_id)
