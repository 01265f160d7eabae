"""/api/tasks: create, list, read, watch the events of, cancel or delete, and retry tasks."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from spoonfeeder import web
from spoonfeeder.models.envelope import Envelope
from spoonfeeder.models.events import Event
from spoonfeeder.models.tasks import Provider, TaskCreate, TaskFilters, TaskStatus, TaskType, TaskView

from routers.deps import task_service

router = Router()

TaskId = Annotated[str, Path(min_length=26, max_length=26, pattern="^[0-9A-HJKMNP-TV-Z]{26}$")]
Limit = Annotated[int, Query(ge=1, le=100)]


def _trace_id() -> str | None:
    return router.current_event.request_context.request_id  # type: ignore[no-any-return]


@router.post("/", summary="Create a task",
              responses=web.documented(Envelope[TaskView], "The queued task", 400, 409, 413, 422, 503, status=201))
def create_task(
    body: Annotated[TaskCreate, Body()],
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", max_length=255)] = None,
) -> Response[str]:
    created = task_service().create(web.caller(router), body, idempotency_key=idempotency_key,
                                    trace_id=_trace_id())
    headers = {"Location": f"/api/tasks/{created.view['id']}"}
    if created.replayed:
        headers["Idempotent-Replayed"] = "true"
    return web.ok(router, created.view, status=201, headers=headers)


@router.get("/", summary="List my tasks, newest first",
            responses=web.documented(Envelope[list[TaskView]], "A page of tasks", 400))
def list_tasks(
    status: Annotated[TaskStatus | None, Query()] = None,
    type: Annotated[TaskType | None, Query()] = None,
    provider: Annotated[Provider | None, Query()] = None,
    created_from: Annotated[str | None, Query(max_length=40)] = None,
    created_to: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 20,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response[str]:
    filters = TaskFilters(status=status, type=type, provider=provider,
                          created_from=created_from, created_to=created_to)
    tasks, next_cursor = task_service().list(web.caller(router), filters, limit=limit, after=cursor)
    return web.ok(router, [TaskView.of(t).model_dump(mode="json") for t in tasks],
                  pagination={"limit": limit, "cursor": next_cursor, "hasMore": next_cursor is not None})


@router.get("/<task_id>", summary="Get a task", responses=web.documented(Envelope[TaskView], "The task", 404))
def get_task(task_id: TaskId) -> Response[str]:
    task = task_service().get(web.caller(router), task_id)
    return web.ok(router, TaskView.of(task).model_dump(mode="json"))


@router.get("/<task_id>/events", summary="The task's recorded events after a sequence number",
            responses=web.documented(Envelope[list[Event]], "Events in seq order", 400, 404))
def task_events(task_id: TaskId, after: Annotated[int, Query(ge=0)] = 0, limit: Limit = 100) -> Response[str]:
    events, more = task_service().events(web.caller(router), task_id, after_seq=after, limit=limit)
    last = events[-1].seq if events else after
    return web.ok(router, [e.model_dump(mode="json") for e in events],
                  pagination={"limit": limit, "cursor": str(last) if more else None, "hasMore": more})


@router.delete("/<task_id>", summary="Cancel an unfinished task, or delete a finished one",
               responses=web.documented(Envelope[TaskView], "The cancelled task, or {id, deleted: true}", 404, 409))
def cancel_or_delete_task(task_id: TaskId) -> Response[str]:
    cancelled = task_service().cancel_or_delete(web.caller(router), task_id)
    if cancelled is None:
        return web.ok(router, {"id": task_id, "deleted": True})
    return web.ok(router, TaskView.of(cancelled).model_dump(mode="json"))


@router.post("/<task_id>/retry", summary="Run a failed or cancelled task again (a new attempt, same request)",
             responses=web.documented(Envelope[TaskView], "The re-queued task", 404, 409, 503, status=202))
def retry_task(task_id: TaskId) -> Response[str]:
    task = task_service().retry(web.caller(router), task_id, trace_id=_trace_id())
    return web.ok(router, TaskView.of(task).model_dump(mode="json"), status=202)
