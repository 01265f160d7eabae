"""Pure rules over the live agents' reports: which agent has a model, can run it, or should take a command.

Ollama names are compared as Ollama resolves them ("llama3.2" is "llama3.2:latest": catalog.ollama_names).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from spoonfeeder.catalog.ollama_names import canonical, same
from spoonfeeder.models.agents import AgentView, InstalledOn, LoadedOn, OllamaPlacement
from spoonfeeder.models.catalog import Capability, ModelInfo, TemperatureRange
from spoonfeeder.models.kinds import Provider

logger = Logger(child=True)

Operation = Literal["pull", "load", "unload", "delete"]
#: What a model served by Ollama can be asked (its JSON mode is `format`); vision depends on the model.
OLLAMA_CAPABILITIES = (Capability.TEXT, Capability.CHAT, Capability.JSON)


def views(reports: Iterable[dict[str, Any]]) -> list[AgentView]:
    """The reports as views, by agent id; a report that does not read is left out (and logged), not shown half."""
    found = []
    for report in reports:
        try:
            found.append(AgentView.model_validate(report))
        except ValidationError:
            logger.warning("unreadable agent report left out", extra={"agent_id": report.get("agent_id")})
    return sorted(found, key=lambda agent: agent.agent_id)


def installed(agent: AgentView, name: str) -> bool:
    return agent.ollama.up and any(same(model.name, name) for model in agent.models.installed)


def loaded(agent: AgentView, name: str) -> bool:
    return agent.ollama.up and any(same(model.name, name) for model in agent.models.loaded)


def can_run(agents: Sequence[AgentView], name: str) -> bool:
    """Some agent has the model, or may pull it (auto_pull) on an Ollama that is up."""
    return any(installed(a, name) or (a.ollama.up and a.capabilities.auto_pull) for a in agents)


def _least_busy(agents: Iterable[AgentView]) -> AgentView | None:
    return min(agents, key=lambda a: (a.tasks_in_flight, a.agent_id), default=None)


def choose(agents: Sequence[AgentView], op: Operation, name: str) -> AgentView | None:
    """The agent a command goes to when the caller names none: a pull to the least busy agent whose Ollama is
    up; a load to the least busy agent that has the model (one that has not loaded it first); an unload to one
    that has it loaded (else installed); a delete to the least busy that has it."""
    up = [a for a in agents if a.ollama.up]
    if op == "pull":
        return _least_busy(up)
    having = [a for a in up if installed(a, name) or loaded(a, name)]
    if op == "load":
        return _least_busy(a for a in having if not loaded(a, name)) or _least_busy(having)
    if op == "unload":
        return _least_busy(a for a in having if loaded(a, name)) or _least_busy(having)
    return _least_busy(having)


def placement(agents: Sequence[AgentView], name: str) -> OllamaPlacement | None:
    """Where the model is installed and loaded; None when no live agent reports it."""
    details = None
    installed_on, loaded_on = [], []
    for agent in agents:
        for model in agent.models.installed:
            if same(model.name, name):
                installed_on.append(InstalledOn(agent_id=agent.agent_id, size=model.size, digest=model.digest,
                                                modified_at=model.modified_at))
                details = details or model
        loaded_on += [LoadedOn(agent_id=agent.agent_id, size_vram=m.size_vram, expires_at=m.expires_at)
                      for m in agent.models.loaded if same(m.name, name)]
    if not installed_on and not loaded_on:
        return None
    return OllamaPlacement(installed_on=installed_on, loaded_on=loaded_on,
                           family=details.family if details else None,
                           parameter_size=details.parameter_size if details else None,
                           quantization_level=details.quantization_level if details else None)


def ollama_models(agents: Sequence[AgentView]) -> list[ModelInfo]:
    """Every Ollama model a live agent reports (installed or loaded), once, by its tagged name."""
    names = sorted({canonical(m.name) for a in agents for m in [*a.models.installed, *a.models.loaded]})
    return [model_info(name, placed) for name in names if (placed := placement(agents, name)) is not None]


def model_info(name: str, placed: OllamaPlacement) -> ModelInfo:
    return ModelInfo(provider=Provider.OLLAMA, name=name, display_name=name,
                     capabilities=list(OLLAMA_CAPABILITIES), temperature=TemperatureRange(min=0, max=2),
                     ollama=placed)
