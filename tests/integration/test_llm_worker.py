"""The LLM worker function fed real SQS records from moto, calling the fake OpenAI through the official SDK."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta
from typing import Any

import boto3
import pytest
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.kinds import TaskStatus

from tests.conftest import LambdaContext

TEXT = {"type": "text", "provider": "openai", "prompt": "hello there"}


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m["Attributes"], "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1",
    } for m in messages]}


def deliver(function: Any, queue_url: str, *, wait: float = 0, duplicate: bool = False) -> int:
    """One poll as Lambda's SQS poller does it: receive, invoke, delete what did not fail. Returns the count."""
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"],
                              WaitTimeSeconds=int(wait)).get("Messages", [])
    if not got:
        return 0
    batch = got + got if duplicate else got
    response = function.lambda_handler(sqs_event(batch, arn), LambdaContext())
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    for message in got:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return len(got)


def run_until_settled(functions: Any, queues: dict[str, str], task_id: str, api: Any, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"], wait=1)
        deliver(functions["DeadLettersFunction"], queues["LlmTasksDeadLetterQueue"])
        task = api("GET", f"/api/tasks/{task_id}")[1]["data"]
        if task["status"] in ("succeeded", "failed", "cancelled"):
            return task
    raise AssertionError(f"task {task_id} did not settle")


def events_of(api: Any, task_id: str) -> list[dict[str, Any]]:
    return api("GET", f"/api/tasks/{task_id}/events")[1]["data"]


def test_a_text_task_streams_and_succeeds(api: Any, functions: Any, queues: dict, openai_fake: Any) -> None:
    openai_fake.chunk_delay = 0.05  # a stream slow enough to be coalesced into several deltas
    try:
        task_id = api("POST", "/api/tasks", body={**TEXT, "prompt": "tell me a long story " * 8})[1]["data"]["id"]
        task = run_until_settled(functions, queues, task_id, api)
    finally:
        openai_fake.chunk_delay = 0.0
    expected = "Echo: " + "tell me a long story " * 8
    assert task["status"] == "succeeded" and task["result"]["text"].strip() == expected.strip()
    usage = task["result"]["usage"]
    assert usage["output_tokens"] > 0 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert task["metadata"] == {}
    # The default model is in the catalog: the task has its cost, at the catalog's list prices.
    price = api("GET", f"/api/models/openai/{task['model']}")[1]["data"]["price"]
    expected_cost = (usage["input_tokens"] * price["input_per_million"]
                     + usage["output_tokens"] * price["output_per_million"]) / 1e6
    assert task["result"]["cost_usd"] == pytest.approx(expected_cost, abs=1e-6) and expected_cost > 0
    events = events_of(api, task_id)
    types = [e["type"] for e in events]
    assert types[:3] == ["task:created", "task:queued", "task:started"] and types[-1] == "task:completed"
    deltas = [e for e in events if e["type"] == "task:delta"]
    assert 2 <= len(deltas) < openai_fake.requests[-1]["json"].get("max_tokens", 10**6)
    assert "".join(d["data"]["text"] for d in deltas) == task["result"]["text"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    sent = openai_fake.requests[-1]["json"]
    assert sent["stream"] is True and sent["messages"] == task["request_snapshot"]["messages"]


def test_rate_limits_are_retried_with_backoff(api: Any, functions: Any, queues: dict, openai_fake: Any) -> None:
    openai_fake.fail_next(status=429, times=2, retry_after=1)
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    task = run_until_settled(functions, queues, task_id, api)
    assert task["status"] == "succeeded"
    assert openai_fake.chat_calls == 3
    retrying = [e for e in events_of(api, task_id) if e["type"] == "task:retrying"]
    assert len(retrying) == 2
    assert all(e["data"]["error"]["code"] == "RATE_LIMITED" and e["data"]["retry_in_seconds"] >= 1 for e in retrying)


def test_a_rejected_key_fails_at_once(api: Any, functions: Any, queues: dict, openai_fake: Any) -> None:
    openai_fake.fail_next(status=401)
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    task = run_until_settled(functions, queues, task_id, api)
    assert task["status"] == "failed" and task["error"]["code"] == "INVALID_API_KEY"
    assert openai_fake.chat_calls == 1
    assert not [e for e in events_of(api, task_id) if e["type"] == "task:retrying"]
    assert "sk-test" not in str(events_of(api, task_id)) + str(task)


def test_a_provider_down_past_max_attempts_is_dead_lettered(
    api: Any, functions: Any, queues: dict, openai_fake: Any
) -> None:
    openai_fake.set_down(True)
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    task = run_until_settled(functions, queues, task_id, api, timeout=45)
    assert task["status"] == "failed" and task["error"]["code"] == "RETRIES_EXHAUSTED"
    assert "PROVIDER_UNAVAILABLE" in task["error"]["message"]
    assert openai_fake.chat_calls == 3  # MaxReceiveCount=3 in the test stack


def test_the_same_message_delivered_twice_runs_the_provider_once(
    api: Any, functions: Any, queues: dict, openai_fake: Any
) -> None:
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    assert deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"], duplicate=True) == 1
    assert openai_fake.chat_calls == 1
    assert api("GET", f"/api/tasks/{task_id}")[1]["data"]["status"] == "succeeded"
    types = [e["type"] for e in events_of(api, task_id)]
    assert types.count("task:started") == 1 and types.count("task:completed") == 1


def test_a_cancelled_queued_task_is_skipped(api: Any, functions: Any, queues: dict, openai_fake: Any) -> None:
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    assert api("DELETE", f"/api/tasks/{task_id}")[1]["data"]["status"] == "cancelled"
    assert deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"]) == 1
    assert openai_fake.chat_calls == 0
    assert api("GET", f"/api/tasks/{task_id}")[1]["data"]["status"] == "cancelled"


def test_cancel_while_streaming_stops_the_run(api: Any, functions: Any, queues: dict, openai_fake: Any) -> None:
    openai_fake.chunk_delay = 0.1
    task_id = api("POST", "/api/tasks", body={**TEXT, "prompt": "word " * 60})[1]["data"]["id"]

    def cancel_after_first_delta() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(e["type"] == "task:delta" for e in events_of(api, task_id)):
                api("DELETE", f"/api/tasks/{task_id}")
                return
            time.sleep(0.05)

    canceller = threading.Thread(target=cancel_after_first_delta)
    canceller.start()
    try:
        deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"])
    finally:
        canceller.join()
        openai_fake.chunk_delay = 0.0
    task = api("GET", f"/api/tasks/{task_id}")[1]["data"]
    assert task["status"] == "cancelled" and task["result"] is None
    assert "task:completed" not in [e["type"] for e in events_of(api, task_id)]


def test_large_results_go_to_s3(api: Any, functions: Any, queues: dict, openai_fake: Any, stack: Any) -> None:
    openai_fake.reply = "z" * 40_000
    openai_fake.chunk_size = 4000
    try:
        task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
        task = run_until_settled(functions, queues, task_id, api)
    finally:
        openai_fake.reply, openai_fake.chunk_size = None, 8
    key = task["result"]["text_s3_key"]
    assert task["result"].get("text") is None and task["result"]["chars"] == task["result"]["bytes"] == 40_000
    assert key.startswith("outputs/user-a/")
    body = boto3.client("s3").get_object(Bucket=stack.resources["Bucket"], Key=key)["Body"].read()
    assert body == b"z" * 40_000
    stored = TaskStore(stack.resources["Table"]).get(task_id)
    assert stored is not None and stored.result is not None and stored.result.text is None


def test_a_delivery_under_another_workers_live_lease_waits_for_it(
    api: Any, functions: Any, queues: dict, openai_fake: Any, stack: Any
) -> None:
    """A second message for a task another worker is running is neither run nor lost: it comes back when
    that run's lease ends, and then takes the run over if its worker is gone."""
    from spoonfeeder import ids
    from spoonfeeder.tasks.state import transition

    store = TaskStore(stack.resources["Table"])
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    lease = ids.iso(ids.now() + timedelta(seconds=6))
    store.record(task_id, "task:started", {"attempt": 1}, change=transition(
        TaskStatus.RUNNING, now_iso=ids.now_iso(), updates={"lease_until": lease, "lease_owner": "other"}))
    sqs = boto3.client("sqs")
    assert deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"]) == 1
    assert openai_fake.chat_calls == 0
    visible = sqs.receive_message(QueueUrl=queues["LlmTasksQueue"], MaxNumberOfMessages=10).get("Messages", [])
    assert all(task_id not in m["Body"] for m in visible)  # hidden until the lease ends
    # The other worker is gone: its lease ends (here: is moved into the past) and the message runs the task.
    store.record(task_id, "task:progress", {}, change=lambda t: dataclasses.replace(
        t, lease_until=ids.iso(ids.now() - timedelta(seconds=1))))
    task = run_until_settled(functions, queues, task_id, api, timeout=40)  # the same message, not acknowledged
    assert task["status"] == "succeeded" and task["lost_runs"] == 1 and openai_fake.chat_calls == 1


def test_a_task_whose_worker_died_is_taken_over_after_its_lease(
    api: Any, functions: Any, queues: dict, openai_fake: Any, stack: Any
) -> None:
    """A worker that died mid-run leaves the task running; the redelivered message finishes it once the
    lease is over (and not before)."""
    from spoonfeeder import ids
    from spoonfeeder.tasks.state import transition

    store = TaskStore(stack.resources["Table"])
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    lease_over = ids.iso(ids.now() - timedelta(seconds=1))
    store.record(task_id, "task:started", {"attempt": 1}, change=transition(
        TaskStatus.RUNNING, now_iso=ids.now_iso(), updates={"lease_until": lease_over}))
    assert deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"]) == 1
    task = api("GET", f"/api/tasks/{task_id}")[1]["data"]
    assert task["status"] == "succeeded" and openai_fake.chat_calls == 1 and task["lost_runs"] == 1
    started = [e for e in events_of(api, task_id) if e["type"] == "task:started"]
    assert len(started) == 2 and started[1]["data"]["took_over"] is True


def test_a_poison_message_fails_alone_and_is_dead_lettered(
    api: Any, functions: Any, queues: dict, openai_fake: Any
) -> None:
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=queues["LlmTasksQueue"], MessageBody="this is not a task message")
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    for _ in range(10):
        deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"], wait=1)
        if api("GET", f"/api/tasks/{task_id}")[1]["data"]["status"] == "succeeded":
            break
    assert api("GET", f"/api/tasks/{task_id}")[1]["data"]["status"] == "succeeded"  # the batch's good message
    for _ in range(10):  # the bad one comes back until SQS dead-letters it (MaxReceiveCount=3)
        if deliver(functions["DeadLettersFunction"], queues["LlmTasksDeadLetterQueue"], wait=1):
            break
        deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"], wait=1)
    else:
        raise AssertionError("the poison message was never dead-lettered")
    assert openai_fake.chat_calls == 1


@pytest.fixture
def short_lease(functions: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker function with a 2-second lease renewed every 0.3 s (the template's defaults are 30 and 10)."""
    from spoonfeeder.tasks.routing import Lane
    from spoonfeeder.tasks.runner import CloudProviders, TextTaskRunner

    worker = functions["LlmWorkerFunction"]
    small = dataclasses.replace(worker.config, lease_seconds=2, heartbeat_seconds=0.3)
    monkeypatch.setattr(worker, "config", small)
    monkeypatch.setattr(worker, "runner", TextTaskRunner(
        worker.store, small, CloudProviders(small), Lane.LLM, small.llm_tasks_queue_url))
    return worker


def test_a_run_longer_than_its_lease_keeps_it_by_heartbeat(
    api: Any, queues: dict, openai_fake: Any, stack: Any, short_lease: Any
) -> None:
    """The lease and the message's visibility last 2 s, the run about 4 s: renewed, never taken over."""
    openai_fake.chunk_delay = 0.1
    task_id = api("POST", "/api/tasks", body={**TEXT, "prompt": "word " * 40})[1]["data"]["id"]
    store, sqs = TaskStore(stack.resources["Table"]), boto3.client("sqs")
    leases: list[str] = []
    seen_again: list[str] = []
    running = threading.Event()

    def watch() -> None:
        while not running.is_set():
            task = store.get(task_id)
            if task and task.lease_until:  # running: the worker has received its message
                leases.append(task.lease_until)
                got = sqs.receive_message(QueueUrl=queues["LlmTasksQueue"], WaitTimeSeconds=0)
                seen_again.extend(m["Body"] for m in got.get("Messages", []))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert deliver(short_lease, queues["LlmTasksQueue"]) == 1
    finally:
        running.set()
        watcher.join()
        openai_fake.chunk_delay = 0.0
    task = api("GET", f"/api/tasks/{task_id}")[1]["data"]
    assert task["status"] == "succeeded" and task["lost_runs"] == 0 and openai_fake.chat_calls == 1
    assert len(set(leases)) >= 3  # renewed while it ran
    assert not [b for b in seen_again if task_id in b]  # its message stayed hidden the whole run
    assert [e["type"] for e in events_of(api, task_id)].count("task:started") == 1


def test_a_message_with_no_time_left_to_run_is_handed_back_at_once(
    api: Any, functions: Any, queues: dict, openai_fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = functions["LlmWorkerFunction"]
    monkeypatch.setattr(worker, "config", dataclasses.replace(worker.config, min_seconds_to_start=10**6))
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    assert deliver(worker, queues["LlmTasksQueue"]) == 1
    assert openai_fake.chat_calls == 0
    assert api("GET", f"/api/tasks/{task_id}")[1]["data"]["status"] == "queued"
    again = boto3.client("sqs").receive_message(QueueUrl=queues["LlmTasksQueue"]).get("Messages", [])
    assert [task_id in m["Body"] for m in again] == [True]  # visible again right away, for another invocation


def test_a_run_lost_too_often_fails_worker_lost_and_does_not_run_again(
    api: Any, functions: Any, queues: dict, openai_fake: Any, stack: Any
) -> None:
    """Two runs were already taken over, and the third one's worker died too (its lease ran out): the
    delivery that finds it fails the task WORKER_LOST (MaxLostRuns 3) instead of starting it once more."""
    from spoonfeeder import ids
    from spoonfeeder.tasks.state import transition

    store = TaskStore(stack.resources["Table"])
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    store.record(task_id, "task:started", {"attempt": 1}, change=transition(
        TaskStatus.RUNNING, now_iso=ids.now_iso(), updates={
            "lease_until": ids.iso(ids.now() - timedelta(seconds=1)), "lease_owner": "dead", "lost_runs": 2}))
    assert deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"]) == 1
    task = api("GET", f"/api/tasks/{task_id}")[1]["data"]
    assert task["status"] == "failed" and task["error"]["code"] == "WORKER_LOST" and task["lost_runs"] == 3
    assert openai_fake.chat_calls == 0
    assert deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"]) == 0  # acknowledged: no loop
