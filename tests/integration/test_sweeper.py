"""The sweeper re-sends tasks whose message is gone (and only those) and recovers runs whose worker was lost."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
from spoonfeeder import ids
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import Task
from spoonfeeder.tasks.routing import Lane
from spoonfeeder.tasks.state import transition
from spoonfeeder.tasks.sweeper import sweep

from tests.conftest import LambdaContext, drain

TEXT = {"type": "text", "provider": "openai", "prompt": "x"}


def queued_task(store: TaskStore, *, age_seconds: int) -> Task:
    """A task as a create that died between its write and its send leaves it: queued, with no message."""
    at = ids.iso(ids.now() - timedelta(seconds=age_seconds))
    task = Task(id=ids.new_id(), owner="user-s", type="text", provider="openai", model="gpt-4o-mini",
                status=TaskStatus.QUEUED, created_at=at, updated_at=at,
                request_snapshot={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    store.create(task, [(EventType.CREATED, {}), (EventType.QUEUED, {"by": "api"})], None)
    return task


def sent(queue: str) -> list[tuple[str, int]]:
    """Every message now on the queue (removed from it)."""
    sqs, bodies = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        bodies += [json.loads(m["Body"]) for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return [(b["task_id"], b["attempt"]) for b in bodies]


def run_lost(store: TaskStore, task_id: str, *, lease_until: str, lost_runs: int = 0) -> None:
    """Mark a task as a worker that then died leaves it: running, with the lease it had."""
    store.record(task_id, "task:started", {"attempt": 1}, change=transition(
        TaskStatus.RUNNING, now_iso=ids.now_iso(),
        updates={"lease_until": lease_until, "lease_owner": "dead-worker", "lost_runs": lost_runs}))


def test_only_tasks_queued_past_the_grace_period_are_sent_again(stack: Any, functions: Any, api: Any) -> None:
    queue = str(stack.resources["LlmTasksQueue"])
    drain(queue)
    store = TaskStore(stack.resources["Table"])
    sweep(store, {Lane.LLM: queue, Lane.GPU: queue}, grace_seconds=60)  # what other tests left behind
    drain(queue)
    stale = queued_task(store, age_seconds=120)
    fresh = queued_task(store, age_seconds=5)
    queued = api("POST", "/api/tasks", user="user-s", body=TEXT)
    drain(queue)

    result = functions["SweeperFunction"].lambda_handler({"source": "aws.events"}, LambdaContext())

    assert stale.id in result["requeued"] and fresh.id not in result["requeued"]
    assert queued[1]["data"]["id"] not in result["requeued"]
    # Other tests' tasks may come due meanwhile (they share the table): look at this test's own.
    ours = {stale.id, fresh.id, queued[1]["data"]["id"]}
    assert [m for m in sent(queue) if m[0] in ours] == [(stale.id, 1)]
    swept = store.get(stale.id)
    assert swept is not None and swept.status is TaskStatus.QUEUED and swept.resends == 1
    events, _ = store.events(stale.id)
    assert [(e.type, e.data.get("by")) for e in events] == [
        ("task:created", None), ("task:queued", "api"), ("task:queued", "sweeper")]
    # The next re-send waits longer: not on the very next sweep.
    assert stale.id not in functions["SweeperFunction"].lambda_handler({}, LambdaContext())["requeued"]
    later = sweep(store, {Lane.LLM: queue}, grace_seconds=60, now=ids.now() + timedelta(seconds=121))
    assert stale.id in later.requeued and store.get(stale.id).resends == 2  # type: ignore[union-attr]


def test_a_run_whose_worker_was_lost_is_handed_to_another(stack: Any, functions: Any, api: Any) -> None:
    queue = str(stack.resources["LlmTasksQueue"])
    store = TaskStore(stack.resources["Table"])
    lost = api("POST", "/api/tasks", user="user-s", body=TEXT)[1]["data"]["id"]
    live = api("POST", "/api/tasks", user="user-s", body={**TEXT, "prompt": "y"})[1]["data"]["id"]
    drain(queue)  # as if workers had received both
    later = ids.now() + timedelta(minutes=5)
    run_lost(store, lost, lease_until=ids.now_iso())
    run_lost(store, live, lease_until=ids.iso(later + timedelta(minutes=1)))

    swept = sweep(store, {Lane.LLM: queue, Lane.GPU: queue}, grace_seconds=60, now=later)

    # Other tests share the table and the clock jump: look at this test's own tasks.
    assert lost in swept.recovered and live not in swept.recovered
    recovered = store.get(lost)
    assert recovered is not None and recovered.status is TaskStatus.RETRYING and recovered.lease_until is None
    assert recovered.lost_runs == 1
    ids_sent = {task_id for task_id, _ in sent(queue)}  # (waiting tasks of other tests may be re-sent too)
    assert lost in ids_sent and live not in ids_sent
    assert store.get(live).status is TaskStatus.RUNNING  # type: ignore[union-attr]
    again = sweep(store, {Lane.LLM: queue}, grace_seconds=60, now=later).recovered
    assert lost not in again and live not in again


def test_a_run_lost_too_often_fails_worker_lost_instead_of_looping(stack: Any, functions: Any, api: Any) -> None:
    queue = str(stack.resources["LlmTasksQueue"])
    store = TaskStore(stack.resources["Table"])
    task_id = api("POST", "/api/tasks", user="user-s", body=TEXT)[1]["data"]["id"]
    drain(queue)
    run_lost(store, task_id, lease_until=ids.now_iso(), lost_runs=2)  # two takeovers already

    swept = sweep(store, {Lane.LLM: queue}, grace_seconds=60, max_lost_runs=3,
                  now=ids.now() + timedelta(minutes=5))

    assert task_id in swept.worker_lost and task_id not in swept.recovered
    failed = store.get(task_id)
    assert failed is not None and failed.status is TaskStatus.FAILED and failed.lost_runs == 3
    assert failed.error is not None and failed.error.code == "WORKER_LOST"
    assert task_id not in {t for t, _ in sent(queue)}
