"""/api/models: the models tasks can name, with their limits and prices (one id scheme `{provider}/{name}`), and
the Ollama models of the GPU agents: where each is, and the operations on them (administrators only)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from spoonfeeder import web
from spoonfeeder.agents.fleet import Operation
from spoonfeeder.errors import ValidationFailed
from spoonfeeder.models.agents import LoadCommand, ModelCommand, OllamaModelStatus
from spoonfeeder.models.catalog import Capability, ModelInfo
from spoonfeeder.models.envelope import Envelope, Page
from spoonfeeder.models.kinds import Provider
from spoonfeeder.models.tasks import TaskView

from routers.deps import agent_service, model_directory

router = Router()

ModelName = Annotated[str, Path(min_length=1, max_length=200)]
#: An Ollama name: `[registry/][namespace/]model[:tag]`, e.g. "llama3.2:latest" or "hf.co/org/repo:Q4_K_M".
OLLAMA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:+-]*$")
NAMES = ("Ollama names hold ':' and may hold '/': the rest of the path is the name (`hf.co/org/repo:Q4`), sent as "
         "it is or percent-encoded (`hf.co%2Forg%2Frepo%3AQ4`). A name without a tag means its `latest` tag.")
COMMANDS = ("Only for members of the user pool group `admin` (403 FORBIDDEN otherwise). The operation is a task "
            "(type model_op) run by one GPU agent: the answer is that task, queued; follow it at "
            "GET /api/tasks/{id} or over the WebSocket (`task:{id}`: a pull records `model:pull` events with "
            "completed/total bytes and percent); DELETE /api/tasks/{id} cancels it (a pull stops). Body (optional): "
            "`agent_id`, the agent to run it on; without it the API chooses ")


def _ollama_name(raw: str) -> str:
    """The path's model name, percent-decoded (API Gateway passes the path as the client sent it)."""
    name = unquote(raw)
    if not OLLAMA_NAME.match(name) or "//" in name or name.endswith("/"):
        raise ValidationFailed(f"{name!r} is not an Ollama model name", details={"name": name})
    return name


@router.get("/", summary="List the models, in id order",
            description="Cloud models come from the catalog (limits, list prices). A task may still name a "
                        "model that is not listed: it runs with the provider's own limits and has no cost. Ollama "
                        "models are those the live GPU agents report, with where each is installed and loaded "
                        "(`ollama`).",
            **web.contract(Page[ModelInfo], "A page of models", 400))
def list_models(
    provider: Annotated[Provider | None, Query()] = None,
    capability: Annotated[Capability | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    cursor: Annotated[str | None, Query(max_length=300, description="`pagination.cursor` of the previous page")]
    = None,
) -> Response[Page[ModelInfo]]:
    web.caller(router)  # signed-in users only, as every non-public route (the gateway checks first)
    models, next_id = model_directory().page(provider=provider, capability=capability, after=cursor, limit=limit)
    return web.ok(router, models, pagination={"limit": limit, "cursor": next_id, "hasMore": next_id is not None})


# Registered before GET /{provider}/{name}, whose name takes the rest of the path: a name ending in "/status" is
# this route (a model named ".../status" is reached with its tag, ".../status:latest").
@router.get("/ollama/<model_name>/status", summary="Where an Ollama model is installed and loaded",
            description="Which live GPU agents have the model installed (size, digest) and which hold it in GPU "
                        "memory (size_vram, until expires_at). " + NAMES,
            **web.contract(Envelope[OllamaModelStatus], "The model's status", 400,
                           (404, "No live GPU agent reports the model (MODEL_NOT_FOUND)")))
def ollama_model_status(model_name: ModelName) -> Response[Envelope[OllamaModelStatus]]:
    web.caller(router)
    return web.ok(router, agent_service().status(_ollama_name(model_name)))


@router.get("/<provider>/<model_name>", summary="Get a model by its id `{provider}/{name}`",
            description="The name is the rest of the path, so names holding ':' or '/' need no escaping. An Ollama "
                        "model is one a live GPU agent reports, with where it is (`ollama`). " + NAMES,
            **web.contract(Envelope[ModelInfo], "The model", 400, (404, "No such model (MODEL_NOT_FOUND)")))
def get_model(provider: Annotated[Provider, Path()], model_name: ModelName) -> Response[Envelope[ModelInfo]]:
    web.caller(router)
    if provider is Provider.OLLAMA:
        return web.ok(router, agent_service().model(_ollama_name(model_name)))
    return web.ok(router, model_directory().get(provider, model_name))


def _command(op: Operation, model_name: str, body: ModelCommand | None) -> Response[Envelope[TaskView]]:
    owner = web.admin(router)
    keep_alive = body.keep_alive if isinstance(body, LoadCommand) else None
    view = agent_service().command(owner, op, _ollama_name(model_name), agent_id=body.agent_id if body else None,
                                   keep_alive=keep_alive,
                                   trace_id=router.current_event.request_context.request_id)
    return web.ok(router, view, status=202)


def _command_contract(what: str) -> dict[str, object]:
    return web.contract(
        Envelope[TaskView], f"The queued model_op task ({what})", (403, "Not an administrator (FORBIDDEN)"),
        (404, "The named agent is not live (AGENT_NOT_FOUND), or no live agent (not the named one) has the model "
              "(MODEL_NOT_FOUND)"),
        (422, "No live agent with a running Ollama to pull on (NOT_AVAILABLE)"), 503, status=202, body=True)


@router.post("/ollama/<model_name>/pull", summary="Pull an Ollama model onto a GPU agent (administrators)",
             description=COMMANDS + "the live agent with the fewest tasks in flight. A name Ollama's registry does not "
                                    "know: the task fails MODEL_NOT_FOUND. " + NAMES,
             **_command_contract("pull"))
def pull_model(model_name: ModelName,
               body: Annotated[ModelCommand | None, Body()] = None) -> Response[Envelope[TaskView]]:
    return _command("pull", model_name, body)


@router.post("/ollama/<model_name>/load", summary="Load an Ollama model into a GPU agent's memory (administrators)",
             description=COMMANDS + "an agent that has the model and has not loaded it (`keep_alive`: how long it "
                                    "stays). " + NAMES,
             **_command_contract("load"))
def load_model(model_name: ModelName,
               body: Annotated[LoadCommand | None, Body()] = None) -> Response[Envelope[TaskView]]:
    return _command("load", model_name, body)


@router.post("/ollama/<model_name>/unload", summary="Unload an Ollama model from a GPU agent's memory "
                                                    "(administrators)",
             description=COMMANDS + "an agent that has the model loaded. " + NAMES,
             **_command_contract("unload"))
def unload_model(model_name: ModelName,
                 body: Annotated[ModelCommand | None, Body()] = None) -> Response[Envelope[TaskView]]:
    return _command("unload", model_name, body)


@router.delete("/ollama/<model_name>", summary="Delete an Ollama model from a GPU agent (administrators)",
               description=COMMANDS + "an agent that has the model (one agent: name `agent_id` to choose which). "
                           + NAMES,
               **_command_contract("delete"))
def delete_model(model_name: ModelName,
                 body: Annotated[ModelCommand | None, Body()] = None) -> Response[Envelope[TaskView]]:
    return _command("delete", model_name, body)
