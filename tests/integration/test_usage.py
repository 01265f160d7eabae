"""Usage totals: tasks run by the worker, their table stream records delivered to the events function as the
UsageStream mapping filters them (twice, as a stream may), and GET /api/usage summing them up."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from functools import partial
from typing import Any

import boto3
import pytest
from localcloud.filters import passes
from localcloud.runners import StreamRunner
from spoonfeeder.data.items import to_item

from tests.conftest import REGION, LambdaContext
from tests.integration.test_llm_worker import deliver

PRICED = ["gpt-4o-mini"] * 6 + ["gpt-4o"] * 3
UNPRICED = ["house-model-7"] * 2  # not in the catalog: it runs, and its cost is unknown


def stream_iterators(table: str) -> list[str]:
    ddb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    return [streams.get_shard_iterator(StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType="LATEST")[
        "ShardIterator"] for s in shards]


def stream_records(iterators: list[str]) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams")
    records: list[dict[str, Any]] = []
    for iterator in iterators:
        while iterator:
            got = streams.get_records(ShardIterator=iterator)
            records += got["Records"]
            iterator = got.get("NextShardIterator") if got["Records"] else None
    return records


@pytest.fixture
def usage_source(stack: Any) -> Any:
    """The events function's mapping that counts usage, as the template declares it."""
    (source,) = [s for s in stack.event_sources if s.function == "EventsFunction"
                 and any("MODIFY" in p.get("eventName", []) for p in s.filter_patterns)]
    return source


def run_all(api: Any, functions: Any, queues: dict[str, str], task_ids: list[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    pending = set(task_ids)
    while pending and time.monotonic() < deadline:
        deliver(functions["LlmWorkerFunction"], queues["LlmTasksQueue"], wait=1)
        pending = {t for t in pending if api("GET", f"/api/tasks/{t}")[1]["data"]["status"] != "succeeded"}
    assert not pending, f"tasks did not succeed: {pending}"
    return [api("GET", f"/api/tasks/{t}")[1]["data"] for t in task_ids]


def test_usage_totals_equal_the_tasks_usage_and_replays_count_once(
        api: Any, stack: Any, functions: Any, queues: dict[str, str], openai_fake: Any, usage_source: Any) -> None:
    user = f"usage-{uuid.uuid4().hex[:8]}"
    iterators = stream_iterators(stack.resources["Table"])
    task_ids = []
    for i, model in enumerate(PRICED + UNPRICED):
        created = api("POST", "/api/tasks", user=user, body={
            "type": "text", "provider": "openai", "model": model, "prompt": "count me " * (i + 1)})
        assert created[0] == 201, created[1]
        task_ids.append(created[1]["data"]["id"])
    tasks = run_all(partial(api, user=user), functions, queues, task_ids)

    runner = StreamRunner(usage_source, invoke=None, endpoint_url=boto3.client("dynamodb").meta.endpoint_url,
                          region=REGION)  # type: ignore[arg-type]
    records = [r for r in map(runner.record, stream_records(iterators)) if passes(r, usage_source.filter_patterns)]
    mine = [r for r in records if r["dynamodb"]["NewImage"]["owner"]["S"] == user]
    assert len(mine) == len(task_ids)  # only the write that finished each task passes the mapping's filter

    events = functions["EventsFunction"]
    for batch in (mine, mine, mine[:3]):  # the whole stream twice, then part of it again
        assert events.lambda_handler({"Records": batch}, LambdaContext()) == {"batchItemFailures": []}

    status, body, _ = api("GET", "/api/usage", user=user, query={"groupBy": "model"})
    assert status == 200, body
    report = body["data"]
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for task in tasks:
        group = expected[task["model"]]
        group["tasks"] += 1
        group["input_tokens"] += task["result"]["usage"]["input_tokens"]
        group["output_tokens"] += task["result"]["usage"]["output_tokens"]
        group["cost_usd"] += task["result"]["cost_usd"] or 0
    assert {g["model"]: {k: g[k] for k in ("tasks", "input_tokens", "output_tokens")} for g in report["groups"]} \
        == {m: {k: v for k, v in e.items() if k != "cost_usd"} for m, e in expected.items()}
    for group in report["groups"]:
        assert group["provider"] == "openai"
        assert group["cost_usd"] == pytest.approx(expected[group["model"]]["cost_usd"], abs=1e-9)
        assert group["unpriced_tasks"] == (group["tasks"] if group["model"] == "house-model-7" else 0)
    total = report["total"]
    assert total["tasks"] == len(task_ids) and total["unpriced_tasks"] == len(UNPRICED)
    assert total["total_tokens"] == sum(t["result"]["usage"]["total_tokens"] for t in tasks)
    assert total["cost_usd"] > 0

    by_day = api("GET", "/api/usage", user=user)[1]["data"]  # the default: the last 30 days, per day
    assert by_day["group_by"] == "day" and [g["tasks"] for g in by_day["groups"]] == [len(task_ids)]
    assert by_day["total"] == total
    # Another user's totals hold none of it.
    assert api("GET", "/api/usage", user=f"other-{user}")[1]["data"]["total"]["tasks"] == 0


@pytest.mark.parametrize("query", [
    {"from": "2026-11-02", "to": "2026-11-01"},
    {"from": "2024-01-01", "to": "2026-01-01"},
    {"from": "2026-02-30"},
    {"from": "yesterday"},
    {"groupBy": "week"},
])
def test_bad_ranges_and_groupings_are_400(api: Any, query: dict[str, str]) -> None:
    status, body, _ = api("GET", "/api/usage", query=query)
    assert status == 400 and body["success"] is False and body["error"]["code"] == "VALIDATION_ERROR"


def finishing_record(owner: str, task_id: str, sequence: str) -> dict[str, Any]:
    """A task's MODIFY from running to succeeded with usage, as the stream delivers it."""
    before = {"entity": "task", "id": task_id, "owner": owner, "provider": "openai", "model": "gpt-4o",
              "status": "running", "attempt": 1, "updated_at": "2026-11-20T10:00:00.000Z"}
    after = {**before, "status": "succeeded", "completed_at": "2026-11-20T10:00:05.000Z",
             "result": {"text": "ok", "usage": {"input_tokens": 1000, "output_tokens": 100, "total_tokens": 1100},
                        "cost_usd": 0.0035}}
    return {"eventID": sequence, "eventName": "MODIFY", "eventSource": "aws:dynamodb", "awsRegion": REGION,
            "dynamodb": {"Keys": {"pk": {"S": f"TASK#{task_id}"}, "sk": {"S": "TASK"}}, "SequenceNumber": sequence,
                         "OldImage": to_item(before), "NewImage": to_item(after),
                         "StreamViewType": "NEW_AND_OLD_IMAGES"}}


def test_a_failed_count_fails_only_its_record_and_its_retry_counts_once(
        api: Any, functions: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    user = f"usage-{uuid.uuid4().hex[:8]}"
    records = [finishing_record(user, f"T{i}", f"{i:021d}") for i in range(1, 4)]
    events = functions["EventsFunction"]
    real_add = events.usage.add

    def add_failing_once_for_t2(usage: Any) -> bool:
        if usage.task_id == "T2":
            monkeypatch.setattr(events.usage, "add", real_add)
            raise RuntimeError("the table is throttling")
        return bool(real_add(usage))

    monkeypatch.setattr(events.usage, "add", add_failing_once_for_t2)
    assert events.lambda_handler({"Records": records}, LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}
    # The mapping resumes from the failed record: T2 and T3 again; T3 was counted already.
    assert events.lambda_handler({"Records": records[1:]}, LambdaContext()) == {"batchItemFailures": []}
    query = {"from": "2026-11-20", "to": "2026-11-20"}
    total = api("GET", "/api/usage", user=user, query=query)[1]["data"]["total"]
    assert (total["tasks"], total["input_tokens"], total["output_tokens"]) == (3, 3000, 300)
    assert total["cost_usd"] == pytest.approx(3 * 0.0035)
