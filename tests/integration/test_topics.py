"""Topics beyond a task's: a ComfyUI session's (its generations' events, named generation:*) and a batch's.
Who may watch them, what fan-out sends there, and what `resume` replays."""

from __future__ import annotations

import json
from typing import Any

import boto3
from spoonfeeder import ids
from spoonfeeder.data.items import to_item
from spoonfeeder.data.task_store import TaskStore, event_sk
from spoonfeeder.models.events import EventType
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import Task
from spoonfeeder.realtime.connections import ConnectionStore
from spoonfeeder.realtime.fanout import FanOut
from spoonfeeder.realtime.session import Session
from spoonfeeder.tasks.state import transition

from tests.conftest import eventually
from tests.integration.test_fanout import RecordingPusher


def put_owned(table: str, pk: str, sk: str, owner: str) -> None:
    boto3.client("dynamodb").put_item(TableName=table, Item=to_item({"pk": pk, "sk": sk, "owner": owner}))


def generation(store: TaskStore, owner: str, session_id: str | None) -> Task:
    at = ids.now_iso()
    task = Task(id=ids.new_id(), owner=owner, type="image", provider="comfyui", model="sd15.safetensors",
                status=TaskStatus.QUEUED, created_at=at, updated_at=at, session_id=session_id,
                parameters={"seed": 7, "width": 64}, request_snapshot={"workflow": {"3": {"class_type": "KSampler"}}})
    store.create(task, [(EventType.CREATED, {}), (EventType.QUEUED, {"by": "api"})], None)
    return task


def progress(store: TaskStore, task_id: str, percent: float) -> None:
    store.record(task_id, EventType.PROGRESS, {"percent": percent}, change=lambda t: t)


class Client:
    """One WebSocket connection's session, recording what it was sent."""

    def __init__(self, stack: Any, connection_id: str, owner: str) -> None:
        table = stack.resources["Table"]
        self.pusher = RecordingPusher(gone=set())
        self.connections = ConnectionStore(table)
        self.connections.add(connection_id, owner)
        self.session = Session(connection_id, owner, self.connections, TaskStore(table), self.pusher)  # type: ignore[arg-type]

    def ask(self, **message: Any) -> list[dict[str, Any]]:
        before = len(self.pusher.sent)
        self.session.handle(json.dumps(message))
        return [sent for _, sent in self.pusher.sent[before:]]


def test_a_generation_names_its_events_and_reaches_its_session_watchers_once(stack: Any) -> None:
    table = stack.resources["Table"]
    store, session_id = TaskStore(table), ids.new_id()
    put_owned(table, "OWNER#u-topics", f"SESSION#{session_id}", "u-topics")
    task = generation(store, "u-topics", session_id)
    store.record(task.id, EventType.STARTED, {}, change=transition(TaskStatus.RUNNING, now_iso=ids.now_iso()))
    progress(store, task.id, 40.0)
    store.record(task.id, EventType.COMPLETED, {}, change=transition(TaskStatus.SUCCEEDED, now_iso=ids.now_iso()))
    events, _ = store.events(task.id)
    assert [e.type for e in events] == ["task:created", "generation:queued", "task:started", "generation:progress",
                                        "generation:completed"]
    assert all(e.topic == f"task:{task.id}" and e.topics == [f"session:{session_id}"] for e in events)

    connections = ConnectionStore(table)
    for conn in ("c-session", "c-task-and-session", "c-elsewhere"):
        connections.add(conn, "u-topics")
    connections.subscribe("c-session", "u-topics", f"session:{session_id}")
    connections.subscribe("c-task-and-session", "u-topics", f"session:{session_id}")
    connections.subscribe("c-task-and-session", "u-topics", f"task:{task.id}")
    connections.subscribe("c-elsewhere", "u-topics", f"session:{ids.new_id()}")
    pusher = RecordingPusher(gone=set())
    assert FanOut(connections, pusher).push(events[3], "u-topics") == 2  # type: ignore[arg-type]
    assert sorted(conn for conn, _ in pusher.sent) == ["c-session", "c-task-and-session"]


def test_a_text_task_keeps_its_task_event_names_and_no_further_topics(stack: Any) -> None:
    store = TaskStore(stack.resources["Table"])
    at = ids.now_iso()
    task = Task(id=ids.new_id(), owner="u-topics", type="text", provider="openai", model="gpt-4o-mini",
                status=TaskStatus.QUEUED, created_at=at, updated_at=at, request_snapshot={})
    store.create(task, [(EventType.CREATED, {}), (EventType.QUEUED, {})], None)
    events, _ = store.events(task.id)
    assert [(e.type, e.topics) for e in events] == [("task:created", None), ("task:queued", None)]


def test_only_the_owner_may_watch_a_session_or_a_batch(stack: Any) -> None:
    table = stack.resources["Table"]
    session_id, batch_id = ids.new_id(), ids.new_id()
    put_owned(table, "OWNER#u-owner", f"SESSION#{session_id}", "u-owner")
    put_owned(table, f"BATCH#{batch_id}", "BATCH", "u-owner")
    owner, other = Client(stack, "c-owner", "u-owner"), Client(stack, "c-other", "u-other")
    for topic in (f"session:{session_id}", f"batch:{batch_id}"):
        assert owner.ask(action="subscribe", topic=topic) == [{"type": "subscribed", "topic": topic}]
        refused = other.ask(action="subscribe", topic=topic)
        assert refused[0]["type"] == "error" and refused[0]["error"]["code"] == "TOPIC_FORBIDDEN"
        assert other.ask(action="resume", topic=topic)[0]["error"]["code"] == "TOPIC_FORBIDDEN"
    unknown = owner.ask(action="subscribe", topic=f"session:{ids.new_id()}")
    assert unknown[0]["error"]["code"] == "TOPIC_FORBIDDEN"  # the same answer as another user's
    assert owner.ask(action="subscribe", topic="pipeline:x")[0]["error"]["code"] == "INVALID_TOPIC"
    assert other.connections.subscribers(f"session:{session_id}") == ["c-owner"]


def test_resume_on_a_session_replays_its_generations_events_after_the_last_one_seen(stack: Any) -> None:
    table = stack.resources["Table"]
    store, session_id = TaskStore(table), ids.new_id()
    put_owned(table, "OWNER#u-resume", f"SESSION#{session_id}", "u-resume")
    first = generation(store, "u-resume", session_id)
    second = generation(store, "u-resume", session_id)
    generation(store, "u-resume", None)  # not in the session
    progress(store, first.id, 50.0)
    client = Client(stack, "c-resume", "u-resume")
    topic = f"session:{session_id}"

    def replayed(**after: Any) -> list[dict[str, Any]]:
        return [m["event"] for m in client.ask(action="resume", topic=topic, **after) if m["type"] == "event"]

    everything = eventually(lambda: (found if len(found := replayed()) == 5 else None))  # the index catches up
    assert sorted((e["task_id"], e["type"]) for e in everything) == sorted(
        [(first.id, "task:created"), (first.id, "generation:queued"), (second.id, "task:created"),
         (second.id, "generation:queued"), (first.id, "generation:progress")])
    assert [e["id"] for e in everything] == sorted(e["id"] for e in everything)
    later = replayed(after=everything[2]["id"])
    assert later == everything[3:]
    done = client.ask(action="resume", topic=topic, after=everything[-1]["id"])
    assert done == [{"type": "resumed", "topic": topic, "count": 0, "after": everything[-1]["id"],
                     "last_id": everything[-1]["id"]}]
    assert client.connections.subscribers(topic) == ["c-resume"]


def test_resume_on_a_batch_replays_its_own_events_by_seq(stack: Any) -> None:
    table, batch_id = stack.resources["Table"], ids.new_id()
    put_owned(table, f"BATCH#{batch_id}", "BATCH", "u-batch")
    ddb = boto3.client("dynamodb")
    for seq, kind in enumerate(("batch:created", "batch:progress", "batch:completed"), start=1):
        ddb.put_item(TableName=table, Item=to_item({
            "pk": f"BATCH#{batch_id}", "sk": event_sk(seq), "entity": "event", "owner": "u-batch",
            "id": ids.new_id(), "topic": f"batch:{batch_id}", "type": kind, "seq": seq, "at": ids.now_iso(),
            "data": {"n": seq}}))
    client = Client(stack, "c-batch", "u-batch")
    answer = client.ask(action="resume", topic=f"batch:{batch_id}", after_seq=1)
    assert [m["event"]["type"] for m in answer if m["type"] == "event"] == ["batch:progress", "batch:completed"]
    assert answer[-1] == {"type": "resumed", "topic": f"batch:{batch_id}", "count": 2, "after_seq": 1, "last_seq": 3}
