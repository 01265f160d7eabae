"""The fleet's rules over agents' reports (which agent has a model, can run it, takes a command), the Ollama
provider options, and the admin group read from the authorizer's claims."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from spoonfeeder import web
from spoonfeeder.agents import fleet
from spoonfeeder.models.agents import AgentView
from spoonfeeder.models.provider_options import OllamaOptions
from spoonfeeder.models.tasks import TaskCreate


def agent(agent_id: str, *, installed: tuple[str, ...] = (), loaded: tuple[str, ...] = (), busy: int = 0,
          up: bool = True, auto_pull: bool = False) -> AgentView:
    return AgentView.model_validate({
        "agent_id": agent_id, "alive_until": 2_000_000_000, "tasks_in_flight": busy,
        "capabilities": {"ollama": up, "auto_pull": auto_pull}, "ollama": {"up": up},
        "models": {"installed": [{"name": n, "size": 1} for n in installed],
                   "loaded": [{"name": n, "size_vram": 2} for n in loaded]}})


def test_names_match_with_and_without_latest() -> None:
    a = agent("a", installed=("llama3.2:latest", "hf.co/org/repo:Q4"))
    assert fleet.installed(a, "llama3.2") and fleet.installed(a, "llama3.2:latest")
    assert fleet.installed(a, "hf.co/org/repo:Q4") and not fleet.installed(a, "hf.co/org/repo")
    assert not fleet.installed(a, "llama3.2:1b")


def test_can_run_needs_the_model_or_auto_pull_on_a_running_ollama() -> None:
    assert fleet.can_run([agent("a", installed=("llama3.2:latest",))], "llama3.2")
    assert not fleet.can_run([agent("a", installed=("mistral:latest",))], "llama3.2")
    assert fleet.can_run([agent("a"), agent("b", auto_pull=True)], "anything")
    assert not fleet.can_run([agent("b", auto_pull=True, up=False)], "anything")
    assert not fleet.can_run([], "llama3.2")


def test_commands_go_to_the_right_agent() -> None:
    agents = [agent("busy", installed=("m:latest",), loaded=("m:latest",), busy=3),
              agent("idle", installed=("m:latest",), busy=0), agent("empty", busy=0), agent("down", up=False)]
    assert fleet.choose(agents, "pull", "m").agent_id == "empty"  # ties by id: "empty" < "idle"
    assert fleet.choose(agents, "load", "m").agent_id == "idle"  # one that has not loaded it
    assert fleet.choose(agents, "unload", "m").agent_id == "busy"  # the one that has it loaded
    assert fleet.choose(agents, "delete", "m").agent_id == "idle"
    assert fleet.choose(agents, "delete", "other") is None
    assert fleet.choose([agent("down", up=False)], "pull", "m") is None


def test_placement_and_models_gather_every_agent() -> None:
    agents = [agent("a", installed=("m:latest",), loaded=("m:latest",)), agent("b", installed=("m",)),
              agent("c", loaded=("n:7b",))]
    placed = fleet.placement(agents, "m")
    assert placed is not None
    assert [i.agent_id for i in placed.installed_on] == ["a", "b"] and [x.agent_id for x in placed.loaded_on] == ["a"]
    assert [m.id for m in fleet.ollama_models(agents)] == ["ollama/m:latest", "ollama/n:7b"]
    assert fleet.placement(agents, "nothing") is None


def test_reports_show_only_their_listed_fields_and_bad_ones_are_left_out() -> None:
    reports: list[dict[str, Any]] = [{"agent_id": "a", "alive_until": 1, "ollama_url": "http://u:p@h"},
                                     {"agent_id": "b"}]  # no alive_until: does not read
    views = fleet.views(reports)
    assert [v.agent_id for v in views] == ["a"] and "ollama_url" not in views[0].model_dump()


@pytest.mark.parametrize("keep_alive", ["5m", "1h30m", "-1s", "1.5h", 0, -1, 300])
def test_ollama_keep_alive_takes_durations_and_seconds(keep_alive: Any) -> None:
    assert OllamaOptions(keep_alive=keep_alive).keep_alive == keep_alive


@pytest.mark.parametrize("keep_alive", ["forever", "5x", "10 m", -2, "m5"])
def test_ollama_keep_alive_refuses_what_ollama_cannot_parse(keep_alive: Any) -> None:
    with pytest.raises(ValidationError):
        OllamaOptions(keep_alive=keep_alive)


def test_ollama_options_are_refused_for_other_providers_and_kept_for_ollama() -> None:
    body = {"type": "text", "prompt": "x", "provider_options": {"num_ctx": 2048, "think": "high"}}
    created = TaskCreate.model_validate({**body, "provider": "ollama"})
    assert isinstance(created.provider_options, OllamaOptions) and created.provider_options.num_ctx == 2048
    with pytest.raises(ValidationError, match="provider_options for openai"):
        TaskCreate.model_validate({**body, "provider": "openai"})


class _Router:
    """Just what web.groups reads: the authorizer's claims in the request context."""

    def __init__(self, claims: dict[str, Any]) -> None:
        authorizer = type("A", (), {"jwt_claim": claims})()
        self.current_event = type("E", (), {"request_context": type("C", (), {"authorizer": authorizer})()})()


@pytest.mark.parametrize(("claim", "admin"), [("[admin]", True), ("[editors admin]", True), (["admin"], True),
                                              ("[administrators]", False), ("[]", False), (None, False)])
def test_the_admin_group_comes_from_cognito_groups(claim: Any, admin: bool) -> None:
    claims = {"sub": "u-1", **({"cognito:groups": claim} if claim is not None else {})}
    assert web.is_admin(_Router(claims)) is admin  # type: ignore[arg-type]
