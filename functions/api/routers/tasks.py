"""/api/tasks: create, list, read, watch the events of, cancel or purge, and retry tasks."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from pydantic import BaseModel, ConfigDict
from spoonfeeder import ids, web
from spoonfeeder.models.envelope import Envelope, Page
from spoonfeeder.models.events import Event
from spoonfeeder.models.kinds import Provider, TaskStatus, TaskType
from spoonfeeder.models.tasks import TaskCreate, TaskFilters, TaskSummary, TaskView

from routers.deps import task_service
from routers.quota import ticket

router = Router()

TaskId = Annotated[str, Path(min_length=26, max_length=26, pattern=ids.ULID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=100)]
#: Lifetime of an output's download URL: long enough to start a download, short enough not to be shared for long.
OUTPUT_URL_SECONDS = 300


class Deleted(BaseModel):
    """What DELETE ?purge=true answers: the task and its events are gone."""

    model_config = ConfigDict(extra="forbid")  # so a TaskView never passes for one in the union of answers

    id: str
    deleted: Literal[True]


def _trace_id() -> str | None:
    return router.current_event.request_context.request_id  # type: ignore[no-any-return]


@router.post("/", summary="Create a task",
             **web.contract(Envelope[TaskView], "The queued task", 409, 422, 503, status=201, body=True))
def create_task(
    body: Annotated[TaskCreate, Body()],
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", max_length=255)] = None,
) -> Response[Envelope[TaskView]]:
    created = task_service().create(web.caller(router), body, idempotency_key=idempotency_key,
                                    trace_id=_trace_id(), quota=ticket(router))
    headers = {"Location": f"/api/tasks/{created.view['id']}"}
    if created.replayed:
        headers["Idempotent-Replayed"] = "true"
    return web.ok(router, created.view, status=201, headers=headers)


@router.get("/", summary="List my tasks, newest first",
            **web.contract(Page[TaskSummary], "A page of tasks (summaries: GET /api/tasks/{id} has the rest)", 400))
def list_tasks(
    status: Annotated[TaskStatus | None, Query()] = None,
    type: Annotated[TaskType | None, Query()] = None,
    provider: Annotated[Provider | None, Query()] = None,
    created_from: Annotated[str | None, Query(max_length=40)] = None,
    created_to: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 20,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response[Page[TaskSummary]]:
    filters = TaskFilters(status=status, type=type, provider=provider,
                          created_from=created_from, created_to=created_to)
    tasks, next_cursor = task_service().list(web.caller(router), filters, limit=limit, after=cursor)
    return web.ok(router, tasks,
                  pagination={"limit": limit, "cursor": next_cursor, "hasMore": next_cursor is not None})


@router.get("/<task_id>", summary="Get a task", **web.contract(Envelope[TaskView], "The task", 400, 404))
def get_task(task_id: TaskId) -> Response[Envelope[TaskView]]:
    return web.ok(router, TaskView.of(task_service().get(web.caller(router), task_id)))


@router.get("/<task_id>/events", summary="The task's recorded events after a sequence number",
            **web.contract(Page[Event], "Events in seq order", 400, 404))
def task_events(task_id: TaskId, after: Annotated[int, Query(ge=0)] = 0, limit: Limit = 100) -> Response[Page[Event]]:
    events, more = task_service().events(web.caller(router), task_id, after_seq=after, limit=limit)
    last = events[-1].seq if events else after
    return web.ok(router, events, pagination={"limit": limit, "cursor": str(last) if more else None, "hasMore": more})


@router.get(
    "/<task_id>/outputs/<index>", summary="Download one output of a finished task (an image)",
    description="Answers 302 with `Location:` a presigned S3 URL, valid for "
                f"{OUTPUT_URL_SECONDS} seconds, that serves the output with its content type as an attachment. "
                "404 while the task has no such output (not finished, another attempt running, no such index).",
    **web.contract(None, "Redirect to the output's short-lived download URL", 400, 404, status=302,
                   headers={"Location": "The presigned download URL"}))
def download_output(task_id: TaskId, index: Annotated[int, Path(ge=0, le=99)]) -> Response[None]:
    service = task_service()
    output = service.output(web.caller(router), task_id, index)
    url = service.download_url(task_id, output, expires_in=OUTPUT_URL_SECONDS)
    return Response(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})


@router.delete(
    "/<task_id>", summary="Cancel an unfinished task; purge a finished one with ?purge=true",
    description="An unfinished task is cancelled: 200 with the task. A finished task (succeeded, failed, "
                "cancelled) is kept and answers 409 TASK_FINISHED, unless `purge=true`, which deletes it and "
                "its events: 200 with `{id, deleted: true}`. `purge=true` on an unfinished task answers 409 "
                "TASK_NOT_FINISHED. So a repeated DELETE never erases a history by accident.",
    **web.contract(Envelope[TaskView] | Envelope[Deleted], "The cancelled task, or {id, deleted: true} after a purge",
                   400, 404, 409))
def cancel_or_purge_task(
    task_id: TaskId, purge: Annotated[bool, Query(description="Delete a finished task and its events")] = False,
) -> Response[Envelope[TaskView] | Envelope[Deleted]]:
    cancelled = task_service().cancel_or_delete(web.caller(router), task_id, purge=purge)
    if cancelled is None:
        return web.ok(router, Deleted(id=task_id, deleted=True))
    return web.ok(router, TaskView.of(cancelled))


@router.post("/<task_id>/rerun", summary="Run a task's stored request again, exactly, as a new task",
             description="A new task with the same request snapshot (a ComfyUI generation: the same workflow and "
                         "resolved seed, in the same session), `rerun_of` naming this one.",
             **web.contract(Envelope[TaskView], "The new, queued task", 400, 404, 409, 422, 503, status=202))
def rerun_task(task_id: TaskId) -> Response[Envelope[TaskView]]:
    task = task_service().rerun(web.caller(router), task_id, trace_id=_trace_id())
    return web.ok(router, TaskView.of(task), status=202)


@router.post("/<task_id>/retry", summary="Run a failed or cancelled task again (a new attempt, same request)",
             **web.contract(Envelope[TaskView], "The re-queued task", 400,
                            (403, "A model operation, and the caller is not an administrator (FORBIDDEN)"),
                            404, 409, 422, 503, status=202))
def retry_task(task_id: TaskId) -> Response[Envelope[TaskView]]:
    task = task_service().retry(web.caller(router), task_id, trace_id=_trace_id(), admin=web.is_admin(router))
    return web.ok(router, TaskView.of(task), status=202)
