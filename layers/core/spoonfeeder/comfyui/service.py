"""ComfyUI use cases behind the HTTP API: workflows, sessions, generating, generations, options.

A generation is a task (provider comfyui) created here with everything resolved: the session's and the
request's parameters applied to the workflow, seed -1 drawn, and the final workflow stored as JSON text in the
request snapshot, which the GPU agent sends to ComfyUI byte for byte (and a rerun sends again). Every read
checks the owner; another user's workflow, session or generation is "not found".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from spoonfeeder import ids
from spoonfeeder.comfyui import workflow as graphs
from spoonfeeder.data import comfyui as items
from spoonfeeder.data.items import from_item, to_value
from spoonfeeder.errors import NotFound, ValidationFailed
from spoonfeeder.models.comfyui import (
    FILTERS,
    GenerateRequest,
    GenerationView,
    ParametersPatch,
    SessionFields,
    SessionPatch,
    SessionView,
    WorkflowFields,
    WorkflowView,
    workflow_text,
)
from spoonfeeder.models.kinds import Provider, TaskStatus, TaskType
from spoonfeeder.models.task_record import Task
from spoonfeeder.models.tasks import TaskCreate
from spoonfeeder.tasks import cursor
from spoonfeeder.tasks.service import TaskService

DEFAULT_WORKFLOW_ID = "default"  # POST /api/tasks without a workflow_id: the shipped text-to-image workflow


@dataclass(frozen=True)
class Workflow:
    id: str
    graph: dict[str, Any]
    bindings: dict[str, dict[str, str]]

    def resolve(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The workflow with `params` applied (seed -1 drawn, also when it is the workflow's own default) and the
        parameters it now holds."""
        if "seed" not in params and parameter_values(self.graph, self.bindings).get("seed") == graphs.RANDOM_SEED:
            params = {**params, "seed": graphs.RANDOM_SEED}
        try:
            graph = graphs.apply_parameters(self.graph, graphs.resolve_seed(params), self.bindings)
        except ValueError as exc:
            raise ValidationFailed(str(exc), code="INVALID_PARAMETERS") from None
        return graph, parameter_values(graph, self.bindings)


def parameter_values(graph: dict[str, Any], bindings: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    where = {**graphs.find_bindings(graph), **bindings}
    values = {}
    for name, place in where.items():
        node = graph.get(str(place["node"]), {})
        value = node.get("inputs", {}).get(str(place["input"]))
        if value is not None and not graphs.is_link(value):
            values[name] = value
    return values


def model_of(parameters: Mapping[str, Any]) -> str:
    return str(parameters.get("checkpoint") or "comfyui")[:200]


@dataclass
class ComfyService:
    tasks: TaskService
    #: Raises Unprocessable when no live GPU agent has ComfyUI up (nothing could run a generation now).
    check_available: Callable[[], None] = lambda: None
    default_workflow: Callable[[], dict[str, Any]] = dict

    def __post_init__(self) -> None:
        table = self.tasks.store.table
        self.workflows = items.OwnedItems(table, items.WORKFLOW, "workflow")
        self.sessions = items.OwnedItems(table, items.SESSION, "comfy_session")

    # ------------------------------------------------------------------ workflows
    def create_workflow(self, owner: str, body: WorkflowFields) -> WorkflowView:
        workflow_id, at = ids.new_id(), ids.now_iso()
        self._check_bindings(body.workflow, body.bindings)
        self.workflows.put(owner, workflow_id, self._workflow_values(workflow_id, body, at, at), new=True)
        return self.get_workflow(owner, workflow_id)

    def replace_workflow(self, owner: str, workflow_id: str, body: WorkflowFields) -> WorkflowView:
        current = self._workflow_item(owner, workflow_id)
        self._check_bindings(body.workflow, body.bindings)
        if not self.workflows.put(owner, workflow_id,
                                  self._workflow_values(workflow_id, body, current["created_at"], ids.now_iso()),
                                  new=False):
            raise NotFound(f"workflow {workflow_id} not found")
        return self.get_workflow(owner, workflow_id)

    def patch_parameters(self, owner: str, workflow_id: str, body: ParametersPatch) -> WorkflowView:
        current = self._workflow_item(owner, workflow_id)
        bindings = {**current.get("bindings", {}), **{k: v.model_dump() for k, v in body.bindings.items()}}
        graph = json.loads(current["workflow_json"])
        self._check_bindings(graph, bindings)
        try:
            graph = graphs.apply_parameters(graph, body.defaults, bindings)
        except ValueError as exc:
            raise ValidationFailed(str(exc), code="INVALID_PARAMETERS") from None
        self.workflows.update(owner, workflow_id, {"workflow_json": workflow_text(graph), "bindings": bindings,
                                                   "updated_at": ids.now_iso()})
        return self.get_workflow(owner, workflow_id)

    def get_workflow(self, owner: str, workflow_id: str) -> WorkflowView:
        return _workflow_view(self._workflow_item(owner, workflow_id))

    def list_workflows(self, owner: str, *, limit: int, after: str | None) -> tuple[list[WorkflowView], str | None]:
        rows, last = self.workflows.list(owner, limit=limit,
                                         start_key=cursor.decode(after, owner=owner, fields=("pk", "sk"),
                                                                 owner_field="pk"))
        return [_workflow_view(row) for row in rows], cursor.encode(last)

    def delete_workflow(self, owner: str, workflow_id: str) -> None:
        if not self.workflows.delete(owner, workflow_id):
            raise NotFound(f"workflow {workflow_id} not found")

    def workflow(self, owner: str, workflow_id: str | None) -> Workflow:
        if workflow_id in (None, DEFAULT_WORKFLOW_ID):
            return Workflow(DEFAULT_WORKFLOW_ID, self.default_workflow(), {})
        item = self._workflow_item(owner, str(workflow_id))
        return Workflow(item["id"], json.loads(item["workflow_json"]), item.get("bindings") or {})

    def _workflow_item(self, owner: str, workflow_id: str) -> dict[str, Any]:
        item = self.workflows.get(owner, workflow_id)
        if item is None:
            raise NotFound(f"workflow {workflow_id} not found")
        return item

    @staticmethod
    def _workflow_values(workflow_id: str, body: WorkflowFields, created: str, updated: str) -> dict[str, Any]:
        return {"id": workflow_id, "name": body.name, "description": body.description,
                "workflow_json": workflow_text(body.workflow),
                "bindings": {k: v.model_dump() for k, v in body.bindings.items()},
                "created_at": created, "updated_at": updated}

    @staticmethod
    def _check_bindings(graph: dict[str, Any], bindings: Mapping[str, Any]) -> None:
        for name, place in bindings.items():
            place = place if isinstance(place, Mapping) else place.model_dump()
            node = graph.get(place["node"])
            if node is None or place["input"] not in node.get("inputs", {}) \
                    or graphs.is_link(node["inputs"][place["input"]]):
                raise ValidationFailed(f"binding {name!r}: node {place['node']!r} has no literal input "
                                       f"{place['input']!r}", code="INVALID_BINDING")

    # ------------------------------------------------------------------ sessions
    def create_session(self, owner: str, body: SessionFields) -> SessionView:
        workflow = self.workflow(owner, body.workflow_id)  # 404 for a workflow that is not the caller's
        workflow.resolve(body.parameters)  # parameters the workflow has no place for: 400 now, not at generate
        session_id, at = ids.new_id(), ids.now_iso()
        self.sessions.put(owner, session_id, {
            "id": session_id, "name": body.name, "workflow_id": body.workflow_id, "parameters": body.parameters,
            **dict.fromkeys(items.COUNTERS, 0), "created_at": at, "updated_at": at}, new=True)
        return self.get_session(owner, session_id)

    def get_session(self, owner: str, session_id: str) -> SessionView:
        return SessionView.model_validate(self._session_item(owner, session_id))

    def list_sessions(self, owner: str, *, limit: int, after: str | None) -> tuple[list[SessionView], str | None]:
        rows, last = self.sessions.list(owner, limit=limit,
                                        start_key=cursor.decode(after, owner=owner, fields=("pk", "sk"),
                                                                owner_field="pk"))
        return [SessionView.model_validate(row) for row in rows], cursor.encode(last)

    def patch_session(self, owner: str, session_id: str, body: SessionPatch) -> SessionView:
        session = self._session_item(owner, session_id)
        sets: dict[str, Any] = {"updated_at": ids.now_iso()}
        if body.name is not None:
            sets["name"] = body.name
        if body.parameters is not None:
            self.workflow(owner, session["workflow_id"]).resolve(body.parameters)
            sets["parameters"] = body.parameters
        updated = self.sessions.update(owner, session_id, sets)
        if updated is None:
            raise NotFound(f"session {session_id} not found")
        return SessionView.model_validate(updated)

    def delete_session(self, owner: str, session_id: str) -> None:
        """The session goes; its generations (tasks) stay in the task history."""
        if not self.sessions.delete(owner, session_id):
            raise NotFound(f"session {session_id} not found")

    def _session_item(self, owner: str, session_id: str) -> dict[str, Any]:
        item = self.sessions.get(owner, session_id)
        if item is None:
            raise NotFound(f"session {session_id} not found")
        return item

    # ------------------------------------------------------------------ generating
    def generate(self, owner: str, session_id: str, body: GenerateRequest, *,
                 trace_id: str | None) -> list[GenerationView]:
        session = self._session_item(owner, session_id)
        workflow = self.workflow(owner, session["workflow_id"])
        self.check_available()
        asked = {**session.get("parameters", {}), **body.parameters}
        seeded = "seed" in asked or "seed" in parameter_values(workflow.graph, workflow.bindings)
        seed = asked.get("seed", graphs.RANDOM_SEED)
        created = []
        for n in range(body.count):
            params = asked if not seeded else {**asked, "seed": seed if seed == graphs.RANDOM_SEED else int(seed) + n}
            created.append(self.create_generation(owner, workflow, params, session_id=session_id,
                                                  trace_id=trace_id))
        return [generation_view(task) for task in created]

    def create_generation(self, owner: str, workflow: Workflow, params: Mapping[str, Any], *,
                          session_id: str | None = None, trace_id: str | None = None) -> Task:
        task = self.generation_task(owner, workflow, params, session_id=session_id)
        also = [items.generations_added(self.tasks.store.table, owner, session_id, 1)] if session_id else []
        self.tasks.submit(task, trace_id=trace_id, also=also)
        return task

    def generation_task(self, owner: str, workflow: Workflow, params: Mapping[str, Any], *,
                        session_id: str | None = None, prompt: str | None = None, name: str | None = None) -> Task:
        """A generation as it is written: queued, its workflow resolved and stored as the text ComfyUI gets."""
        if prompt is not None:
            params = {**params, "positive": prompt}
        graph, values = workflow.resolve(params)
        snapshot = {"type": str(TaskType.IMAGE), "provider": str(Provider.COMFYUI), "model": model_of(values),
                    "workflow_id": workflow.id, "parameters": values, "workflow": workflow_text(graph)}
        at = ids.now_iso()
        return Task(id=ids.new_id(), owner=owner, type=TaskType.IMAGE, provider=Provider.COMFYUI,
                    model=model_of(values), name=name, status=TaskStatus.QUEUED, request_snapshot=snapshot,
                    created_at=at, updated_at=at, session_id=session_id, workflow_id=workflow.id,
                    parameters={k: values[k] for k in FILTERS if k in values})

    def task_of(self, owner: str, body: TaskCreate) -> Task:
        """POST /api/tasks with provider comfyui: a generation without a session; `prompt` is the positive text.
        The task service writes it like any task (Idempotency-Key, quota)."""
        workflow = self.workflow(owner, body.workflow_id)
        self.check_available()
        return self.generation_task(owner, workflow, body.parameters or {}, prompt=body.prompt, name=body.name)

    # ------------------------------------------------------------------ generations
    def generation(self, owner: str, generation_id: str) -> Task:
        task = self.tasks.get(owner, generation_id)
        if task.provider is not Provider.COMFYUI:
            raise NotFound(f"generation {generation_id} not found")
        return task

    def generation_workflow(self, owner: str, generation_id: str) -> str:
        """The exact JSON text sent to ComfyUI."""
        return str((self.generation(owner, generation_id).request_snapshot or {})["workflow"])

    def delete_generation(self, owner: str, generation_id: str) -> None:
        """The generation's task, its events and its S3 objects (outputs, a large request) go; a running one is
        cancelled first."""
        task = self.generation(owner, generation_id)
        if not task.status.terminal:
            self.tasks.cancel_or_delete(owner, generation_id)
        self.tasks.cancel_or_delete(owner, generation_id, purge=True)

    def generations(self, owner: str, session_id: str, filters: Mapping[str, Any], *, limit: int,
                    after: str | None) -> tuple[list[GenerationView], str | None]:
        self._session_item(owner, session_id)
        collection = f"SESSION#{session_id}"
        start = cursor.decode(after, owner=owner, fields=("pk", "sk", "gsi2pk", "gsi2sk"), owner_field="gsi2pk",
                              bound_to=collection)
        query: dict[str, Any] = {"TableName": self.tasks.store.table, "IndexName": "gsi2",
                                 "KeyConditionExpression": "gsi2pk = :c", "ScanIndexForward": False,
                                 "ExpressionAttributeValues": {":c": {"S": collection}}}
        given = {name: value for name, value in filters.items() if value is not None}
        if given:
            query["ExpressionAttributeNames"] = {"#p": "parameters", **{f"#{n}": n for n in given}}
            query["ExpressionAttributeValues"].update({f":{n}": to_value(v) for n, v in given.items()})
            query["FilterExpression"] = " AND ".join(f"#p.#{n} = :{n}" for n in given)
        found: list[dict[str, Any]] = []
        while len(found) <= limit:  # a filter leaves pages short: read on until one past the page
            if start:
                query["ExclusiveStartKey"] = start
            query["Limit"] = max(limit + 1 - len(found), 10)
            page = self.tasks.store.ddb.query(**query)
            found.extend(page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        views = [generation_view(Task.from_dict(from_item(i))) for i in found[:limit]]
        if len(found) <= limit:
            return views, None
        last = found[limit - 1]
        return views, cursor.encode({k: last[k] for k in ("pk", "sk", "gsi2pk", "gsi2sk")})


def generation_view(task: Task) -> GenerationView:
    snapshot = task.request_snapshot or {}
    return GenerationView(
        id=task.id, task_id=task.id, session_id=task.session_id, workflow_id=task.workflow_id,
        rerun_of=task.rerun_of, status=task.status, parameters=snapshot.get("parameters") or task.parameters or {},
        outputs=list(task.result.outputs or []) if task.result and task.status is TaskStatus.SUCCEEDED else [],
        error=task.error, created_at=task.created_at, completed_at=task.completed_at)


def _workflow_view(item: dict[str, Any]) -> WorkflowView:
    graph = json.loads(item["workflow_json"])
    bindings = item.get("bindings") or {}
    where = {**graphs.find_bindings(graph), **bindings}
    values = parameter_values(graph, bindings)
    return WorkflowView(id=item["id"], name=item["name"], description=item.get("description"), workflow=graph,
                        bindings=bindings, created_at=item["created_at"], updated_at=item["updated_at"],
                        parameters={name: {**place, "default": values.get(name)} for name, place in where.items()})

