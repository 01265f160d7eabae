"""The stored task and its events as plain records: read from an item, converted on assignment, written back."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import TypeAdapter
from spoonfeeder.data.items import from_item, to_item
from spoonfeeder.models.events import Event
from spoonfeeder.models.kinds import Provider, TaskStatus, TaskType
from spoonfeeder.models.record import RecordError
from spoonfeeder.models.task_record import Task, TaskError, TaskOutput, TaskResult, Usage
from spoonfeeder.models.tasks import TaskSummary, TaskView
from spoonfeeder.tasks.state import transition

NOW = "2026-11-22T10:00:00.000Z"


def stored(**changes: Any) -> dict[str, Any]:
    """A finished image task's item as the table gives it back (keys, index attributes and all)."""
    values: dict[str, Any] = {
        "pk": "TASK#01JDTESTTESTTESTTESTTESTAA", "sk": "TASK", "entity": "task", "gsi1pk": "OWNER#u1",
        "gsi1sk": f"{NOW}#01JDTESTTESTTESTTESTTESTAA",
        "id": "01JDTESTTESTTESTTESTTESTAA", "owner": "u1", "type": "image", "provider": "openai",
        "model": "gpt-image-1", "status": "succeeded", "attempt": 2, "seq": 9, "created_at": NOW, "updated_at": NOW,
        "request_snapshot": {"messages": [{"role": "user", "content": "a spoon"}], "options": {}},
        "metadata": {"simulated": True},
        "result": {"outputs": [{"index": 0, "key": "outputs/u1/t/attempt-2/0.png", "content_type": "image/png",
                                "bytes": 2048, "width": 64, "height": 64}],
                   "usage": {"input_tokens": 10, "output_tokens": 0, "total_tokens": 10, "cached_tokens": 4},
                   "cost_usd": 0, "provider": "openai", "model": "gpt-image-1"},
        "error": {"code": "RATE_LIMITED", "message": "slow down", "retryable": True,
                  "details": {"provider_status": 429}},
    }
    values.update(changes)
    return values


def test_an_item_reads_back_as_the_record_with_its_parts() -> None:
    task = Task.from_dict(from_item(to_item(stored())))
    assert (task.type, task.provider, task.status) == (TaskType.IMAGE, Provider.OPENAI, TaskStatus.SUCCEEDED)
    assert task.status is TaskStatus.SUCCEEDED and task.status.terminal
    assert (task.attempt, task.seq, task.lost_runs, task.name) == (2, 9, 0, None)  # absent: the defaults
    assert task.result == TaskResult(
        outputs=[TaskOutput(index=0, key="outputs/u1/t/attempt-2/0.png", content_type="image/png", bytes=2048,
                            width=64, height=64)],
        usage=Usage(input_tokens=10, output_tokens=0, total_tokens=10), cost_usd=0.0, provider=Provider.OPENAI,
        model="gpt-image-1")
    assert isinstance(task.result.cost_usd, float)  # the table gives 0.0 back as 0
    assert task.error == TaskError(code="RATE_LIMITED", message="slow down", retryable=True,
                                   details={"provider_status": 429})


def test_a_record_writes_back_the_json_values_it_was_read_from() -> None:
    values = stored()
    task = Task.from_dict(values)
    written = task.to_dict()
    assert written["status"] == "succeeded" and type(written["status"]) is str
    assert type(written["result"]["provider"]) is str
    assert written["result"]["outputs"][0] == {**values["result"]["outputs"][0], "node_id": None, "filename": None,
                                               "kind": None}
    assert written["result"]["usage"] == {"input_tokens": 10, "output_tokens": 0, "total_tokens": 10}
    assert "pk" not in written and written["name"] is None  # its own fields only, None kept
    assert Task.from_dict(written) == task


@pytest.mark.parametrize(("changes", "says"), [
    ({"status": "sleeping"}, "Task.status: 'sleeping' is not one of pending, queued"),
    ({"attempt": "2"}, "Task.attempt: expected int, got str"),
    ({"attempt": True}, "Task.attempt: expected int, got bool"),
    ({"seq": 1.5}, "Task.seq: expected int, got float"),
    ({"owner": None}, "Task.owner: expected str, got NoneType"),
    ({"metadata": ["x"]}, "Task.metadata: expected an object, got list"),
    ({"result": "done"}, "Task.result: expected an object, got str"),
    ({"result": {"outputs": {"index": 0}}}, "Task.result: TaskResult.outputs: expected a list, got dict"),
    ({"result": {"outputs": [{"index": 0}]}}, "Task.result: TaskResult.outputs[0]: TaskOutput: "),
    ({"result": {"chars": "many"}}, "Task.result: TaskResult.chars: expected int, got str"),
    ({"error": {"message": "no code"}}, "Task.error: TaskError: "),
])
def test_an_item_that_does_not_fit_is_refused_with_the_field_named(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(RecordError) as refused:
        Task.from_dict(stored(**changes))
    assert str(refused.value).startswith(says)


def test_an_item_without_a_required_attribute_is_refused() -> None:
    values = stored()
    del values["created_at"]
    with pytest.raises(RecordError, match=r"^Task: .*created_at"):
        Task.from_dict(values)


def test_a_state_change_converts_its_updates_as_it_assigns_them() -> None:
    task = Task.from_dict(stored(status="running", result=None, error=None, lease_until="2099-01-01T00:00:00Z"))
    change = transition(TaskStatus.SUCCEEDED, now_iso=NOW, updates={
        "result": {"text": "hi", "chars": 2, "bytes": 2, "usage": {"input_tokens": 1, "output_tokens": 1},
                   "provider": "anthropic"},
        "provider": "anthropic", "lease_until": None})
    moved = change(copy.deepcopy(task))
    assert moved is not None and moved.status is TaskStatus.SUCCEEDED and moved.provider is Provider.ANTHROPIC
    assert moved.result == TaskResult(text="hi", chars=2, bytes=2, usage=Usage(input_tokens=1, output_tokens=1),
                                      provider=Provider.ANTHROPIC)
    assert task.status is TaskStatus.RUNNING and task.result is None  # the copy changed, not the task held
    with pytest.raises(RecordError, match=r"^Task\.attempt: expected int"):
        moved.attempt = "3"


def test_events_read_back_from_their_items_without_the_keys() -> None:
    row = {"pk": "TASK#T1", "sk": "EVENT#0000000003", "entity": "event", "owner": "u1", "ttl": 1, "id": "E1",
           "topic": "task:T1", "type": "task:delta", "seq": 3, "task_id": "T1", "at": NOW, "data": {"text": "hi"}}
    event = Event.from_dict(from_item(to_item(row)))
    assert event == Event(id="E1", topic="task:T1", type="task:delta", seq=3, task_id="T1", at=NOW,
                          data={"text": "hi"})
    assert event.to_dict() == {**{k: row[k] for k in ("id", "topic", "type", "seq", "task_id", "at", "data")},
                               "topics": None}


def test_the_api_views_take_the_records_parts_and_hide_what_is_internal() -> None:
    task = Task.from_dict(stored(lease_owner="run-1", request_s3_key=None))
    view = TaskView.of(task).model_dump(mode="json")
    assert view["result"]["outputs"][0]["bytes"] == 2048 and view["error"]["code"] == "RATE_LIMITED"
    assert view["last_seq"] == 9 and view["input"] == {"prompt": "a spoon"}
    assert not {"owner", "seq", "lease_owner", "lease_until", "due_at", "resends", "request_bytes"} & view.keys()
    summary = TaskSummary.model_validate(stored())
    assert summary.error == task.error


def test_the_document_describes_the_parts_from_their_fields_metadata() -> None:
    schema = TypeAdapter(TaskResult).json_schema()
    assert schema["properties"]["text_s3_key"]["description"] == "Set instead of text when the text is large."
    assert "description" not in schema  # a dataclass's generated docstring is not a description
    output = TypeAdapter(TaskOutput).json_schema()
    assert output["required"] == ["index", "key", "content_type", "bytes"]
    assert output["description"].startswith("One stored output of a task (an image, a video, audio")
