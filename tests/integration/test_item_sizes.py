"""Item sizes in UTF-8 bytes: the largest request the API takes, and its run, write only small items;
prompts over the byte limit answer 413, and no prompt ever gets a 5xx."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spoonfeeder.data.sizes import ITEM_LIMIT, item_bytes
from spoonfeeder.data.task_store import IdempotencyClaim
from spoonfeeder.settings import ApiSettings

from tests.conftest import drain

LIMIT = ApiSettings.__dataclass_fields__["max_prompt_bytes"].default  # the deployed default: 256 KiB of UTF-8
CJK = "漢"  # three bytes of UTF-8
TEXT = {"type": "text", "provider": "openai"}
SAFE_ITEM_BYTES = 64 * 1024  # "far below 400 KB"


def items_of(stack: Any, task_id: str) -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb")
    return ddb.query(TableName=stack.resources["Table"], KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": f"TASK#{task_id}"}}, ConsistentRead=True)["Items"]


def run_worker_until_done(functions: Any, stack: Any, task_id: str, api: Any) -> dict[str, Any]:
    from tests.integration.test_llm_worker import deliver

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        deliver(functions["LlmWorkerFunction"], str(stack.resources["LlmTasksQueue"]), wait=1)
        task = api("GET", f"/api/tasks/{task_id}", user="user-big")[1]["data"]
        if task["status"] in ("succeeded", "failed"):
            return dict(task)
    raise AssertionError("the task did not finish")


def test_the_largest_cjk_request_and_its_run_write_only_small_items(
    api: Any, functions: Any, stack: Any, openai_fake: Any
) -> None:
    drain(str(stack.resources["LlmTasksQueue"]))
    system = "語" * 20_000  # the system prompt and the prompt share the limit: together they fill it
    body = {**TEXT, "prompt": CJK * ((LIMIT - len(system.encode())) // 3), "system": system, "name": "名" * 200,
            "options": {"stop": ["停" * 256] * 4}}
    status, created, _ = api("POST", "/api/tasks", user="user-big", body=body, headers={"idempotency-key": "big"})
    assert status == 201, created
    task_id = created["data"]["id"]
    assert created["data"]["input"] == {"prompt": body["prompt"], "system": body["system"]}
    shown = api("GET", f"/api/tasks/{task_id}", user="user-big")[1]["data"]
    assert shown["request_snapshot"]["messages"][0]["content"] == body["prompt"]  # read back from S3
    key = f"requests/user-big/{task_id}.json"
    stored = json.loads(boto3.client("s3").get_object(Bucket=stack.resources["Bucket"], Key=key)["Body"].read())
    assert stored == shown["request_snapshot"]

    openai_fake.reply, openai_fake.chunk_size = "応" * 60_000, 6000  # 180 KB of output in 18 KB chunks
    try:
        task = run_worker_until_done(functions, stack, task_id, api)
    finally:
        openai_fake.reply, openai_fake.chunk_size = None, 8
    assert task["status"] == "succeeded" and task["result"]["bytes"] == 180_000
    assert task["result"]["text_s3_key"] == f"outputs/user-big/{task_id}/attempt-1.txt"
    sent = openai_fake.requests[-1]["json"]["messages"]
    assert sent[1]["content"] == body["prompt"]  # the worker ran the request it read from S3

    claim = IdempotencyClaim("user-big", "big", "")
    claim_item = boto3.client("dynamodb").get_item(TableName=stack.resources["Table"], Key=claim.item_key)["Item"]
    items = [*items_of(stack, task_id), claim_item]
    sizes = {f"{i['sk']['S']}:{i.get('type', {}).get('S', '')}": item_bytes(i) for i in items}
    assert len([k for k in sizes if "task:delta" in k]) >= 11  # the large output came as many small deltas
    assert max(sizes.values()) < SAFE_ITEM_BYTES < ITEM_LIMIT, sizes


@pytest.mark.parametrize(("chars", "status"), [(100_000, 413), (70_000, 201), (LIMIT // 3 + 1, 413)])
def test_cjk_prompts_are_taken_or_refused_by_their_utf8_bytes(
    api: Any, stack: Any, chars: int, status: int
) -> None:
    got, body, _ = api("POST", "/api/tasks", user="user-cjk", body={**TEXT, "prompt": CJK * chars})
    assert got == status, body
    if status == 413:
        assert body["error"]["code"] == "PAYLOAD_TOO_LARGE" and body["error"]["details"]["limit_bytes"] == LIMIT


def _prompts() -> st.SearchStrategy[str]:
    """Any Unicode (every category, lone surrogates included), from a few characters up to past the limit."""
    piece = st.text(st.characters(exclude_categories=()), min_size=1, max_size=40)
    return st.tuples(piece, st.integers(min_value=1, max_value=LIMIT // 20)).map(lambda p: (p[0] * p[1])[:LIMIT])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(prompt=_prompts())
def test_random_unicode_prompts_never_get_a_server_error(api: Any, stack: Any, prompt: str) -> None:
    status, body, _ = api("POST", "/api/tasks", user="user-fuzz", body={**TEXT, "prompt": prompt})
    assert status in (201, 400, 413), (status, body)
    assert body["success"] is (status == 201)

