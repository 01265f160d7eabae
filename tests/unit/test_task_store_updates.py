"""What `TaskStore.record` writes for a change: only the changed attributes, guarded by seq, status, attempt."""

from __future__ import annotations

from dataclasses import replace

from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.kinds import TaskStatus
from spoonfeeder.models.task_record import Task, TaskResult

NOW = "2026-11-22T10:00:00.000Z"


def running() -> Task:
    return Task(id="01JDTESTTESTTESTTESTTESTAA", owner="u1", type="text", provider="openai", model="m",
                status=TaskStatus.RUNNING, request_snapshot={"messages": [{"role": "user", "content": "p" * 5000}]},
                seq=7, attempt=2, created_at=NOW, updated_at=NOW, lease_until=NOW, lease_owner="run-1")


def names(update: dict) -> set[str]:
    return set(update["ExpressionAttributeNames"].values())


def test_a_delta_writes_only_the_counter_and_the_time() -> None:
    held = running()
    after = replace(held, seq=8, updated_at="2026-11-22T10:00:01.000Z")
    update = TaskStore("t")._update(held, after)
    assert update["UpdateExpression"] == "SET #seq = :seq, #updated_at = :updated_at"
    assert update["ConditionExpression"] == "#seq = :was_seq AND #status = :was_status AND #attempt = :was_attempt"
    assert update["ExpressionAttributeValues"][":was_seq"] == {"N": "7"}
    assert update["ExpressionAttributeValues"][":was_attempt"] == {"N": "2"}
    assert "request_snapshot" not in names(update)  # the prompt is never written again


def test_completion_sets_what_changed_and_leaves_the_sweepers_index() -> None:
    held = running()
    after = replace(held, seq=8, updated_at=NOW, status=TaskStatus.SUCCEEDED, completed_at=NOW, lease_until=None,
                    lease_owner=None, result=TaskResult(text="hi", chars=2, bytes=2))
    expression = TaskStore("t")._update(held, after)["UpdateExpression"]
    sets, removes = expression.removeprefix("SET ").split(" REMOVE ")
    assert sorted(part.split(" = ")[0] for part in sets.split(", ")) == [
        "#completed_at", "#result", "#seq", "#status", "#updated_at"]
    assert sorted(removes.split(", ")) == ["#gsi3pk", "#gsi3sk", "#lease_owner", "#lease_until"]
