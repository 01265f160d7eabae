"""/api/comfyui: workflows, sessions, generating, generations and their outputs, and what the GPU agents'
ComfyUI servers offer. A generation is a task (provider comfyui): GET /api/tasks/{id} shows it too."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel
from spoonfeeder import ids, web
from spoonfeeder.comfyui.service import generation_view
from spoonfeeder.models.comfyui import (
    ComfyOptions,
    GenerateRequest,
    GenerationView,
    GenerationWorkflow,
    ParametersPatch,
    SessionFields,
    SessionPatch,
    SessionView,
    WorkflowFields,
    WorkflowView,
)
from spoonfeeder.models.envelope import Envelope, Page

from routers.deps import agent_service, comfy_service, task_service
from routers.tasks import OUTPUT_URL_SECONDS

router = Router()

Id = Annotated[str, Path(min_length=26, max_length=26, pattern=ids.ULID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2000)]


class Deleted(BaseModel):
    id: str
    deleted: Literal[True]


def _trace_id() -> str | None:
    return router.current_event.request_context.request_id  # type: ignore[no-any-return]


def _page(views: list, limit: int, cursor: str | None) -> Response:  # type: ignore[type-arg]
    return web.ok(router, views, pagination={"limit": limit, "cursor": cursor, "hasMore": cursor is not None})


# ------------------------------------------------------------------ workflows
@router.post("/workflows", summary="Import an API-format workflow",
             description="Its parameters and their defaults are found by node class (KSampler, EmptyLatentImage, "
                         "CLIPTextEncode, checkpoint and LoRA loaders); `bindings` add or override them. A UI-format "
                         "workflow (`nodes`, `links`) is refused: export it with ComfyUI's 'Export (API)'.",
             **web.contract(Envelope[WorkflowView], "The imported workflow", status=201, body=True))
def create_workflow(body: Annotated[WorkflowFields, Body()]) -> Response[Envelope[WorkflowView]]:
    view = comfy_service().create_workflow(web.caller(router), body)
    return web.ok(router, view, status=201, headers={"Location": f"/api/comfyui/workflows/{view.id}"})


@router.get("/workflows", summary="List my workflows, newest first",
            **web.contract(Page[WorkflowView], "A page of workflows", 400))
def list_workflows(limit: Limit = 20, cursor: Cursor = None) -> Response[Page[WorkflowView]]:
    views, next_cursor = comfy_service().list_workflows(web.caller(router), limit=limit, after=cursor)
    return _page(views, limit, next_cursor)


@router.get("/workflows/<workflow_id>", summary="Get a workflow",
            **web.contract(Envelope[WorkflowView], "The workflow", 400, 404))
def get_workflow(workflow_id: Id) -> Response[Envelope[WorkflowView]]:
    return web.ok(router, comfy_service().get_workflow(web.caller(router), workflow_id))


@router.put("/workflows/<workflow_id>", summary="Replace a workflow",
            **web.contract(Envelope[WorkflowView], "The workflow as now stored", 404, body=True))
def replace_workflow(workflow_id: Id, body: Annotated[WorkflowFields, Body()]) -> Response[Envelope[WorkflowView]]:
    return web.ok(router, comfy_service().replace_workflow(web.caller(router), workflow_id, body))


@router.patch("/workflows/<workflow_id>/parameters", summary="Set parameter defaults and bindings of a workflow",
              **web.contract(Envelope[WorkflowView], "The workflow as now stored", 404, body=True))
def patch_parameters(workflow_id: Id, body: Annotated[ParametersPatch, Body()]) -> Response[Envelope[WorkflowView]]:
    return web.ok(router, comfy_service().patch_parameters(web.caller(router), workflow_id, body))


@router.delete("/workflows/<workflow_id>", summary="Delete a workflow (its generations keep their snapshots)",
               **web.contract(Envelope[Deleted], "{id, deleted: true}", 400, 404))
def delete_workflow(workflow_id: Id) -> Response[Envelope[Deleted]]:
    comfy_service().delete_workflow(web.caller(router), workflow_id)
    return web.ok(router, Deleted(id=workflow_id, deleted=True))


# ------------------------------------------------------------------ sessions
@router.post("/sessions", summary="Start a session on one of my workflows",
             **web.contract(Envelope[SessionView], "The session", 404, status=201, body=True))
def create_session(body: Annotated[SessionFields, Body()]) -> Response[Envelope[SessionView]]:
    view = comfy_service().create_session(web.caller(router), body)
    return web.ok(router, view, status=201, headers={"Location": f"/api/comfyui/sessions/{view.id}"})


@router.get("/sessions", summary="List my sessions, newest first",
            **web.contract(Page[SessionView], "A page of sessions", 400))
def list_sessions(limit: Limit = 20, cursor: Cursor = None) -> Response[Page[SessionView]]:
    views, next_cursor = comfy_service().list_sessions(web.caller(router), limit=limit, after=cursor)
    return _page(views, limit, next_cursor)


@router.get("/sessions/<session_id>", summary="Get a session with its counters",
            **web.contract(Envelope[SessionView], "The session", 400, 404))
def get_session(session_id: Id) -> Response[Envelope[SessionView]]:
    return web.ok(router, comfy_service().get_session(web.caller(router), session_id))


@router.patch("/sessions/<session_id>", summary="Rename a session or change its default parameters",
              **web.contract(Envelope[SessionView], "The session", 404, body=True))
def patch_session(session_id: Id, body: Annotated[SessionPatch, Body()]) -> Response[Envelope[SessionView]]:
    return web.ok(router, comfy_service().patch_session(web.caller(router), session_id, body))


@router.delete("/sessions/<session_id>", summary="Delete a session (its generations stay in the task history)",
               **web.contract(Envelope[Deleted], "{id, deleted: true}", 400, 404))
def delete_session(session_id: Id) -> Response[Envelope[Deleted]]:
    comfy_service().delete_session(web.caller(router), session_id)
    return web.ok(router, Deleted(id=session_id, deleted=True))


@router.post("/sessions/<session_id>/generate", summary="Generate: `count` generations of the session's workflow",
             description="Each is a task on a GPU agent's ComfyUI; watch `session:{id}` (or each `task:{id}`) for "
                         "generation:queued|progress|completed|failed|cancelled.",
             **web.contract(Envelope[list[GenerationView]], "The queued generations", 404,
                            (422, "No live GPU agent has ComfyUI running (NOT_AVAILABLE)"), 503, status=202,
                            body=True))
def generate(session_id: Id, body: Annotated[GenerateRequest, Body()]) -> Response[Envelope[list[GenerationView]]]:
    views = comfy_service().generate(web.caller(router), session_id, body, trace_id=_trace_id())
    return web.ok(router, views, status=202)


@router.get("/sessions/<session_id>/generations", summary="A session's generations, newest first, filtered",
            **web.contract(Page[GenerationView], "A page of generations", 400, 404))
def list_generations(
    session_id: Id, limit: Limit = 20, cursor: Cursor = None,
    width: Annotated[int | None, Query(ge=1)] = None, height: Annotated[int | None, Query(ge=1)] = None,
    steps: Annotated[int | None, Query(ge=1)] = None, cfg: Annotated[float | None, Query()] = None,
    seed: Annotated[int | None, Query(ge=0)] = None, sampler: Annotated[str | None, Query(max_length=100)] = None,
    scheduler: Annotated[str | None, Query(max_length=100)] = None,
    checkpoint: Annotated[str | None, Query(max_length=300)] = None,
) -> Response[Page[GenerationView]]:
    filters = {"width": width, "height": height, "steps": steps, "cfg": cfg, "seed": seed, "sampler": sampler,
               "scheduler": scheduler, "checkpoint": checkpoint}
    views, next_cursor = comfy_service().generations(web.caller(router), session_id, filters, limit=limit,
                                                     after=cursor)
    return _page(views, limit, next_cursor)


# ------------------------------------------------------------------ generations
@router.get("/generations/<generation_id>", summary="Get a generation",
            **web.contract(Envelope[GenerationView], "The generation", 400, 404))
def get_generation(generation_id: Id) -> Response[Envelope[GenerationView]]:
    return web.ok(router, generation_view(comfy_service().generation(web.caller(router), generation_id)))


@router.get("/generations/<generation_id>/workflow", summary="The exact workflow sent to ComfyUI",
            description="The API-format workflow as stored and sent, byte for byte (parameters applied, seed "
                        "resolved).",
            **web.contract(Envelope[GenerationWorkflow], "The workflow, parsed and as its exact text", 400, 404))
def generation_workflow(generation_id: Id) -> Response[Envelope[GenerationWorkflow]]:
    text = comfy_service().generation_workflow(web.caller(router), generation_id)
    return web.ok(router, GenerationWorkflow(workflow=json.loads(text), text=text))


@router.delete("/generations/<generation_id>", summary="Delete a generation, its events and its stored outputs",
               **web.contract(Envelope[Deleted], "{id, deleted: true}", 400, 404))
def delete_generation(generation_id: Id) -> Response[Envelope[Deleted]]:
    comfy_service().delete_generation(web.caller(router), generation_id)
    return web.ok(router, Deleted(id=generation_id, deleted=True))


@router.get("/outputs/<generation_id>/<index>", summary="Download one output of a generation",
            description=f"302 to a presigned S3 URL valid {OUTPUT_URL_SECONDS} seconds; 404 to anyone but the owner.",
            **web.contract(None, "Redirect to the output's short-lived download URL", 400, 404, status=302,
                           headers={"Location": "The presigned download URL"}))
def download_output(generation_id: Id, index: Annotated[int, Path(ge=0, le=999)]) -> Response[None]:
    owner = web.caller(router)
    comfy_service().generation(owner, generation_id)
    service = task_service()
    output = service.output(owner, generation_id, index)
    url = service.download_url(generation_id, output, expires_in=OUTPUT_URL_SECONDS)
    return Response(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})


# ------------------------------------------------------------------ options
@router.get("/options", summary="Checkpoints, LoRAs, samplers and schedulers on the live agents' ComfyUI",
            **web.contract(Envelope[ComfyOptions], "What the live GPU agents offer"))
def options() -> Response[Envelope[ComfyOptions]]:
    return web.ok(router, ComfyOptions.model_validate(agent_service().comfyui_options()))
