"""The sweeper re-sends tasks that a crashed create left pending — and only those."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
from spoonfeeder import ids
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.tasks import Task, TaskStatus

from tests.conftest import LambdaContext, drain


def pending_task(store: TaskStore, *, age_seconds: int) -> Task:
    """A task as a create that died between the write and the send leaves it."""
    at = ids.iso(ids.now() - timedelta(seconds=age_seconds))
    task = Task(id=ids.new_id(), owner="user-s", type="text", provider="openai", model="gpt-4o-mini",
                status=TaskStatus.PENDING, input={"prompt": "hi"}, created_at=at, updated_at=at,
                request_snapshot={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    store.create(task, EventType.CREATED, {}, None)
    return task


def test_only_tasks_pending_past_the_grace_period_are_sent_again(stack: Any, functions: Any, api: Any) -> None:
    queue = str(stack.resources["LlmTasksQueue"])
    drain(queue)
    store = TaskStore(stack.resources["Table"])
    stale = pending_task(store, age_seconds=120)
    fresh = pending_task(store, age_seconds=5)
    queued = api("POST", "/api/tasks", user="user-s", body={"type": "text", "provider": "openai", "prompt": "x"})
    drain(queue)

    result = functions["SweeperFunction"].lambda_handler({"source": "aws.events"}, LambdaContext())

    assert stale.id in result["requeued"] and fresh.id not in result["requeued"]
    assert queued[1]["data"]["id"] not in result["requeued"]
    bodies = [json.loads(m["Body"]) for m in boto3.client("sqs").receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
    assert [(b["task_id"], b["attempt"]) for b in bodies] == [(stale.id, 1)]
    swept = store.get(stale.id)
    assert swept is not None and swept.status is TaskStatus.QUEUED
    events, _ = store.events(stale.id)
    assert [(e.type, e.data.get("by")) for e in events] == [("task:created", None), ("task:queued", "sweeper")]
    assert store.get(fresh.id).status is TaskStatus.PENDING  # type: ignore[union-attr]
    assert functions["SweeperFunction"].lambda_handler({}, LambdaContext())["requeued"] == []


def test_a_run_whose_worker_was_lost_is_handed_to_another(stack: Any, functions: Any, api: Any) -> None:
    from spoonfeeder.tasks.routing import Lane
    from spoonfeeder.tasks.state import transition
    from spoonfeeder.tasks.sweeper import sweep

    queue = str(stack.resources["LlmTasksQueue"])
    store = TaskStore(stack.resources["Table"])
    lost = api("POST", "/api/tasks", user="user-s", body={"type": "text", "provider": "openai", "prompt": "x"})
    live = api("POST", "/api/tasks", user="user-s", body={"type": "text", "provider": "openai", "prompt": "y"})
    drain(queue)  # as if workers had received both
    later = ids.now() + timedelta(minutes=5)
    for task_id, lease in ((lost[1]["data"]["id"], ids.now()), (live[1]["data"]["id"], later + timedelta(minutes=1))):
        store.record(task_id, "task:started", {"attempt": 1}, change=transition(
            TaskStatus.RUNNING, now_iso=ids.now_iso(), updates={"lease_until": ids.iso(lease)}))

    swept = sweep(store, {Lane.LLM: queue, Lane.GPU: queue}, grace_seconds=60, now=later)

    assert swept.recovered == [lost[1]["data"]["id"]]
    recovered = store.get(lost[1]["data"]["id"])
    assert recovered is not None and recovered.status is TaskStatus.RETRYING and recovered.lease_until is None
    bodies = [json.loads(m["Body"]) for m in boto3.client("sqs").receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
    sent = {b["task_id"] for b in bodies}  # (tasks other tests left pending may be re-sent too)
    assert lost[1]["data"]["id"] in sent and live[1]["data"]["id"] not in sent
    assert store.get(live[1]["data"]["id"]).status is TaskStatus.RUNNING  # type: ignore[union-attr]
    assert sweep(store, {Lane.LLM: queue}, grace_seconds=60, now=later).recovered == []
