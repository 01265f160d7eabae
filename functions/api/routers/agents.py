"""/api/agents: the live GPU agents (the operator's fleet) and what each last reported.

Any signed-in user may read them; only administrators command them (/api/models/ollama/...)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from spoonfeeder import web
from spoonfeeder.models.agents import AgentView
from spoonfeeder.models.envelope import Envelope

from routers.deps import agent_service

router = Router()

AgentId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]


@router.get("/", summary="The live GPU agents, by id",
            description="Agents whose last heartbeat still counts (`alive_until` is ahead): one that stops beating "
                        "drops out when it runs out. Each shows its host, GPUs, Ollama, installed and loaded models "
                        "and load, as it last reported them.",
            **web.contract(Envelope[list[AgentView]], "The live agents"))
def list_agents() -> Response[Envelope[list[AgentView]]]:
    web.caller(router)
    return web.ok(router, agent_service().agents())


@router.get("/<agent_id>", summary="One live GPU agent",
            **web.contract(Envelope[AgentView], "The agent's last report", 400,
                           (404, "No such agent, or its heartbeats stopped (AGENT_NOT_FOUND)")))
def get_agent(agent_id: AgentId) -> Response[Envelope[AgentView]]:
    web.caller(router)
    return web.ok(router, agent_service().agent(agent_id))
