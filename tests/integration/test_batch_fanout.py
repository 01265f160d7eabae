"""A batch's fan-out against moto's server: its input streamed from S3 into tasks chunk by chunk, bad lines kept
as rejected lines, each chunk written once whatever crashes, and no more than `max_concurrency` in flight."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from spoonfeeder.batches.fanout import FanOut
from spoonfeeder.data import queues
from spoonfeeder.data.batches import BatchStore, input_key
from spoonfeeder.data.items import from_item
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.tasks.routing import Lane

from tests.conftest import drain


def openai_line(n: int, **body: Any) -> str:
    return json.dumps({"custom_id": f"req-{n}", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"line {n}"}], **body}})


BAD = {
    3: "{not json",
    5: json.dumps({"custom_id": "req-5", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}}),
    8: openai_line(2),  # req-2 again
    13: openai_line(13, temperature=9),
}


def input_file(lines: int) -> bytes:
    text = [BAD.get(n, openai_line(n)) for n in range(lines)]
    text.insert(10, "   ")  # a blank line is no record
    return ("\n".join(text) + "\n").encode()


@pytest.fixture
def batch(stack: Any) -> dict[str, Any]:
    owner, batch_id = f"batch-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex.upper()[:26]
    return {"owner": owner, "id": batch_id, "key": input_key(owner, batch_id)}


def fan_out(stack: Any) -> FanOut:
    table = stack.resources["Table"]
    return FanOut(BatchStore(table), TaskStore(table, stack.resources["Bucket"]), stack.resources["Bucket"],
                  {Lane.LLM: stack.resources["LlmTasksQueue"]}, stack.resources["BatchFilesQueue"],
                  max_prompt_bytes=100_000)


def lines_of(stack: Any, batch_id: str) -> list[dict[str, Any]]:
    ddb, found, start = boto3.client("dynamodb"), [], None
    while True:
        query: dict[str, Any] = {"TableName": stack.resources["Table"], "IndexName": "gsi2",
                                 "KeyConditionExpression": "gsi2pk = :b",
                                 "ExpressionAttributeValues": {":b": {"S": f"BATCH#{batch_id}"}}}
        if start:
            query["ExclusiveStartKey"] = start
        page = ddb.query(**query)
        found += [from_item(i) for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def sent(queue: str) -> list[str]:
    sqs, ids = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        ids += [json.loads(m["Body"])["task_id"] for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return ids


def put_input(stack: Any, batch: dict[str, Any], body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=stack.resources["Bucket"], Key=batch["key"], Body=body)


def test_every_line_becomes_a_task_or_a_rejected_line_once(stack: Any, functions: Any, batch: dict[str, Any]) -> None:
    queue = stack.resources["LlmTasksQueue"]
    drain(queue)
    body = input_file(45)
    put_input(stack, batch, body)
    store = BatchStore(stack.resources["Table"])
    assert store.claim(batch["id"], batch["owner"], size=len(body), max_concurrency=100) is not None
    assert store.claim(batch["id"], batch["owner"], size=len(body), max_concurrency=100) is None  # re-delivered
    assert fan_out(stack).run(batch["id"]) == "running"
    state = store.get(batch["id"])
    assert state is not None and state["format"] == "openai" and state["offset"] == len(body)
    assert (state["total"], state["rejected"], state["created"], state["in_flight"]) == (45, 4, 41, 41)
    found = lines_of(stack, batch["id"])
    assert sorted(row["batch_line"] if row["entity"] == "task" else row["line"] for row in found) == list(range(45))
    errors = {row["line"]: row["error"]["code"] for row in found if row["entity"] == "batch_line"}
    assert errors == {3: "INVALID_JSON", 5: "UNKNOWN_URL", 8: "DUPLICATE_CUSTOM_ID", 13: "VALIDATION_ERROR"}
    tasks = [row for row in found if row["entity"] == "task"]
    assert all(t["owner"] == batch["owner"] and t["status"] == "queued" and t["batch_id"] == batch["id"]
               for t in tasks)
    assert sorted(sent(queue)) == sorted(t["id"] for t in tasks) and not state.get("unsent")


def test_a_fan_out_killed_between_a_chunk_and_its_send_resumes_without_duplicate_or_gap(
        stack: Any, functions: Any, batch: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    queue = stack.resources["LlmTasksQueue"]
    drain(queue)
    body = input_file(70)
    put_input(stack, batch, body)
    store = BatchStore(stack.resources["Table"])
    store.claim(batch["id"], batch["owner"], size=len(body), max_concurrency=100)
    real, calls = queues.send_tasks, []

    def dies_on_the_second_send(url: str, messages: Any) -> None:
        calls.append(len(messages))
        if len(calls) == 2:
            raise SystemExit("killed")  # what a crashed invocation leaves: chunk 2 written, not sent
        real(url, messages)

    monkeypatch.setattr(queues, "send_tasks", dies_on_the_second_send)
    with pytest.raises(SystemExit):
        fan_out(stack).run(batch["id"])
    monkeypatch.setattr(queues, "send_tasks", real)
    halfway = store.get(batch["id"])
    assert halfway is not None and halfway["status"] == "fanning_out" and halfway["unsent"]
    assert fan_out(stack).run(batch["id"]) == "running"
    again = store.get(batch["id"])
    assert again is not None and again["total"] == 70 and again["created"] + again["rejected"] == 70
    tasks = [row for row in lines_of(stack, batch["id"]) if row["entity"] == "task"]
    assert len(tasks) == again["created"] and len({t["custom_id"] for t in tasks}) == len(tasks)
    messages = sent(queue)
    assert set(messages) == {t["id"] for t in tasks}  # every task sent; the unsent chunk too


def test_no_more_than_max_concurrency_in_flight(stack: Any, functions: Any, batch: dict[str, Any]) -> None:
    queue = stack.resources["LlmTasksQueue"]
    drain(queue)
    body = "\n".join(openai_line(n) for n in range(12)).encode()  # no newline at the end
    put_input(stack, batch, body)
    store = BatchStore(stack.resources["Table"])
    store.claim(batch["id"], batch["owner"], size=len(body), max_concurrency=5)
    assert fan_out(stack).run(batch["id"]) == "waiting"
    state = store.get(batch["id"])
    assert state is not None and (state["created"], state["in_flight"], state["waiting"]) == (5, 5, True)
    assert len(sent(queue)) == 5
    store.update(batch["id"], {}, adds={"in_flight": -3})  # three ended (what the stream consumer does)
    assert fan_out(stack).run(batch["id"]) == "waiting"
    assert store.get(batch["id"])["created"] == 8  # type: ignore[index]
    store.update(batch["id"], {}, adds={"in_flight": -8})
    assert fan_out(stack).run(batch["id"]) == "running"
    done = store.get(batch["id"])
    assert done is not None and done["created"] == 12 and done["offset"] == len(body)
    assert len(sent(queue)) == 7
