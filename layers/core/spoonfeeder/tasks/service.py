"""Task use cases behind the HTTP API: create, read, list, cancel or delete, retry.

Every read checks the owner; another user's task is "not found", never "forbidden", so ids leak nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from spoonfeeder import ids
from spoonfeeder.data import comfyui as comfyui_items
from spoonfeeder.data import storage
from spoonfeeder.data.profiles import ProfileStore
from spoonfeeder.data.task_store import IdempotencyClaim, IdempotencyKeyTaken, TaskStore
from spoonfeeder.errors import Conflict, NotFound, PayloadTooLarge, ServiceUnavailable, Unprocessable
from spoonfeeder.models.events import Event, EventType
from spoonfeeder.models.kinds import Provider, TaskStatus, TaskType
from spoonfeeder.models.task_record import Task, TaskOutput
from spoonfeeder.models.tasks import TaskCreate, TaskFilters, TaskSummary, TaskView
from spoonfeeder.presets.apply import apply_preset
from spoonfeeder.ratelimit import Ticket, over_quota
from spoonfeeder.tasks import cursor, dispatch, routing
from spoonfeeder.tasks.fallback import chain_of
from spoonfeeder.tasks.snapshot import new_task
from spoonfeeder.tasks.state import CANCELLABLE, EVENT_OF, RETRYABLE_BY_USER, transition

logger = Logger(child=True)


@dataclass(frozen=True)
class Created:
    view: dict[str, Any]
    replayed: bool


@dataclass
class TaskService:
    store: TaskStore
    destinations: dispatch.Destinations
    max_prompt_bytes: int
    #: (owner, provider) -> the model the user's provider setting names, if any
    user_default_model: Callable[[str, str], str | None] = lambda owner, provider: None
    #: (provider, model) -> raises Unprocessable when nothing could run the model now (Ollama: no GPU agent has
    #: it or may pull it); called before anything is written
    check_model: Callable[[str, str], None] = lambda provider, model: None
    #: (owner, body) -> the generation a ComfyUI image task is (comfyui/service.py), to be written
    generation_of: Callable[[str, TaskCreate], Task] | None = None
    profiles: ProfileStore = field(init=False)  # presets live in the tasks' table

    def __post_init__(self) -> None:
        self.profiles = ProfileStore(self.store.table)

    # ------------------------------------------------------------------ create
    def create(self, owner: str, body: TaskCreate, *, idempotency_key: str | None, trace_id: str | None,
               quota: Ticket | None = None) -> Created:
        """One transaction (the task already queued, its created and queued events, the key's claim, and the
        request's count against the `quota`), then one send. The answer is built from what was written, and
        the quota's new count is known from the transaction's condition (ratelimit.Ticket): nothing is read but
        the preset, when the body names one."""
        given = body
        applied = apply_preset(self.profiles, owner, body)  # 400/422 before anything is written
        body = applied.body
        size = body.input_bytes()
        if size > self.max_prompt_bytes:
            raise PayloadTooLarge(f"system, prompt and messages are larger than {self.max_prompt_bytes} bytes of "
                                  "UTF-8 together",
                                  details={"limit_bytes": self.max_prompt_bytes, "bytes": size})
        lane = routing.ensure_runnable(body.type, body.provider)
        claim = None
        if idempotency_key:  # not read first: a taken claim fails the transaction, and then we replay
            request_hash = hashlib.sha256(given.model_dump_json().encode()).hexdigest()
            claim = IdempotencyClaim(owner, idempotency_key, request_hash)
        if body.provider is Provider.COMFYUI and self.generation_of is not None:
            task = self.generation_of(owner, body)
        else:
            # The user's default model is read only when the request names none.
            model = (body.model or self.user_default_model(owner, body.provider)
                     or routing.default_model(body.provider, body.type))
            self.check_model(body.provider, model)
            task = new_task(owner, body, model, snapshot=applied.snapshot)
        try:
            self.store.create(task, self._first_events(task, lane), claim, count=quota)
        except IdempotencyKeyTaken as taken:
            assert claim is not None
            counted = quota.take() if quota else None  # the transaction counted nothing: a replay counts too
            if counted and counted.exceeded:
                raise over_quota(counted) from taken
            earlier = self._replay(owner, claim)
            if earlier:
                return earlier
            raise Conflict("a request with this Idempotency-Key is in progress",
                           code="IDEMPOTENCY_IN_PROGRESS") from taken
        # The user never saw this task: if it cannot be queued it is deleted (claim included, so the same
        # Idempotency-Key can be sent again), rather than left failed in their history.
        if quota:
            quota.committed()
        self._send(task, trace_id, undo=lambda: self.store.discard_created(task, claim))
        return Created(TaskView.of(task).model_dump(mode="json"), replayed=False)

    def submit(self, task: Task, *, trace_id: str | None, also: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """A task another use case made (a model operation, a generation): written queued with its first events
        (and `also`, further transaction items) in one transaction, then handed to its lane; if that fails,
        nothing is left behind (503). Returns its view."""
        lane = routing.lane_for(task.type, task.provider)
        self.store.create(task, self._first_events(task, lane), None, also=also)
        self._send(task, trace_id, undo=lambda: self.store.discard_created(task, None))
        return TaskView.of(task).model_dump(mode="json")

    def _first_events(self, task: Task, lane: routing.Lane) -> list[tuple[str, dict[str, Any]]]:
        return [(EventType.CREATED, self._summary(task)),
                (EventType.QUEUED, {"attempt": task.attempt, "by": "api", "lane": str(lane)})]

    def _replay(self, owner: str, claim: IdempotencyClaim) -> Created | None:
        """The task an earlier request with this key created, as it is now (the claim keeps its id)."""
        record = self.store.idempotency(claim)
        if record is None:
            return None
        if record.request_hash != claim.request_hash:
            raise Unprocessable("this Idempotency-Key was used with a different request",
                                code="IDEMPOTENCY_KEY_REUSED")
        task = self.store.get(record.task_id)
        if task is None or task.owner != owner:
            return None
        return Created(TaskView.of(task).model_dump(mode="json"), replayed=True)

    def _send(self, task: Task, trace_id: str | None, *, undo: Callable[[], object]) -> None:
        """Send the task's message; when SQS refuses, `undo` the write and answer 503."""
        try:
            dispatch.send(self.destinations, task, trace_id=trace_id)
        except Exception as exc:
            logger.exception("queue send failed", extra={"task_id": task.id})
            undo()
            raise ServiceUnavailable("the task queue is unavailable; nothing was queued, try again") from exc

    # ------------------------------------------------------------------ reads
    def get(self, owner: str, task_id: str) -> Task:
        task = self.store.get(task_id)
        if task is None or task.owner != owner:
            raise NotFound(f"task {task_id} not found")
        return task

    def list(
        self, owner: str, filters: TaskFilters, *, limit: int, after: str | None,
    ) -> tuple[list[TaskSummary], str | None]:
        rows, last_key = self.store.list_owned(owner, filters, limit=limit,
                                               start_key=cursor.decode(after, owner=owner))
        return [TaskSummary.model_validate(row) for row in rows], cursor.encode(last_key)

    def output(self, owner: str, task_id: str, index: int) -> TaskOutput:
        """One stored output of the owner's finished task; NotFound while the task has none at `index`."""
        task = self.get(owner, task_id)
        outputs = task.result.outputs if task.status is TaskStatus.SUCCEEDED and task.result else None
        found = next((output for output in outputs or [] if output.index == index), None)
        if found is None:
            raise NotFound(f"task {task_id} has no output {index}")
        return found

    def download_url(self, task_id: str, output: TaskOutput, *, expires_in: int) -> str:
        """A presigned GET of an output that `output` found (and so checked the owner of); the file is named
        after the task and the stored object (`{task}-0.png`)."""
        if not self.store.bucket:
            raise RuntimeError("outputs need the bucket, and this service's store has none")
        filename = f"{task_id}-{output.key.rsplit('/', 1)[-1]}"
        return storage.download_url(self.store.bucket, output.key, content_type=output.content_type,
                                    filename=filename, expires_in=expires_in)

    def events(self, owner: str, task_id: str, *, after_seq: int, limit: int) -> tuple[list[Event], bool]:
        self.get(owner, task_id)
        return self.store.events(task_id, after_seq=after_seq, limit=limit)

    # ------------------------------------------------------------------ cancel, delete, retry
    def cancel_or_delete(self, owner: str, task_id: str, *, purge: bool = False) -> Task | None:
        """Cancel an unfinished task (returns it). A finished task is deleted with its events only when
        `purge` is asked (returns None): a repeated DELETE must not erase a history by accident."""
        task = self.get(owner, task_id)
        if task.status in CANCELLABLE:
            if purge:
                raise Conflict("the task is not finished; cancel it (DELETE without purge) first",
                               code="TASK_NOT_FINISHED")
            moved = self._move(task_id, TaskStatus.CANCELLED, {"by": "user"},
                               updates={"completed_at": ids.now_iso(), "lease_until": None})
            if moved:
                return moved[0]
            task = self._must_get(task_id)
            if not task.status.terminal:
                raise Conflict("the task changed while being cancelled; try again")
        if not purge:
            raise Conflict(f"the task is already {task.status}; DELETE with ?purge=true removes it and its events",
                           code="TASK_FINISHED", details={"status": str(task.status)})
        self.store.delete(task)
        return None

    def retry(self, owner: str, task_id: str, *, trace_id: str | None, admin: bool = False) -> Task:
        """A new attempt, already queued, in one transaction; then one send. If the send fails the task
        fails QUEUE_UNAVAILABLE: it existed before, so it stays in the history and can be retried again.
        A model operation is retried only by an `admin` (on the agent it named)."""
        task = self.get(owner, task_id)
        if task.status not in RETRYABLE_BY_USER:
            raise Conflict(f"only failed or cancelled tasks can be retried; this one is {task.status}",
                           code="NOT_RETRYABLE")
        lane = routing.ensure_runnable(task.type, task.provider, admin=admin)
        attempt = task.attempt + 1
        first = chain_of(task)[0]  # a task that moved along its fallback chain starts over from its first pair
        moved = self._move(
            task_id, TaskStatus.QUEUED, {"attempt": attempt, "by": "user", "lane": str(lane)}, current=task,
            updates={"attempt": attempt, "error": None, "result": None, "started_at": None, "completed_at": None,
                     "lease_until": None, "lease_owner": None, "lost_runs": 0, "due_at": None, "resends": 0,
                     "provider": first.provider, "model": first.model},
        )
        if moved is None:
            raise Conflict("the task changed while being retried; try again")
        queued = moved[0]
        error = {"code": "QUEUE_UNAVAILABLE", "message": "the task queue is unavailable"}
        self._send(queued, trace_id, undo=lambda: self._move(
            task_id, TaskStatus.FAILED, {"error": error}, current=queued,
            updates={"error": error, "completed_at": ids.now_iso()}))
        return queued

    def rerun(self, owner: str, task_id: str, *, trace_id: str | None) -> Task:
        """A new task with the stored request snapshot of `task_id`, exactly (a generation: the same workflow
        text, the same resolved seed, in the same session), linked to it by `rerun_of`."""
        first = self.get(owner, task_id)
        if first.type is TaskType.MODEL_OP:
            raise Conflict("a model operation is not re-run; ask for it again", code="NOT_RERUNNABLE")
        routing.ensure_runnable(first.type, first.provider)
        self.check_model(first.provider, first.model)
        chain = chain_of(first)[0]  # a task that moved along its fallback chain starts over from its first pair
        at = ids.now_iso()
        task = Task(id=ids.new_id(), owner=owner, type=first.type, provider=chain.provider, model=chain.model,
                    name=first.name, status=TaskStatus.QUEUED, request_snapshot=first.request_snapshot,
                    created_at=at, updated_at=at, session_id=first.session_id, workflow_id=first.workflow_id,
                    parameters=first.parameters, rerun_of=first.id)
        also = [comfyui_items.generations_added(self.store.table, owner, first.session_id, 1)] \
            if first.session_id else []
        self.submit(task, trace_id=trace_id, also=also)
        return task

    # ------------------------------------------------------------------ helpers
    def _move(
        self, task_id: str, to: TaskStatus, data: dict[str, Any], *,
        updates: dict[str, Any] | None = None, event_type: str | None = None, current: Task | None = None,
    ) -> tuple[Task, Event] | None:
        change = transition(to, now_iso=ids.now_iso(), updates=updates)
        return self.store.record(task_id, event_type or EVENT_OF[to], data, change=change, current=current)

    def _must_get(self, task_id: str) -> Task:
        task = self.store.get(task_id)
        if task is None:
            raise NotFound(f"task {task_id} not found")
        return task

    @staticmethod
    def _summary(task: Task) -> dict[str, Any]:
        return {"type": str(task.type), "provider": str(task.provider), "model": task.model,
                "attempt": task.attempt, "name": task.name}
