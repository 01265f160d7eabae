"""The HTTP API function with real HTTP API events against moto's server (the template's real resources)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.errors import ServiceUnavailable
from spoonfeeder.models.tasks import TaskCreate
from spoonfeeder.tasks.routing import Lane
from spoonfeeder.tasks.service import TaskService

from tests.conftest import LambdaContext, calls_during, drain, http_event

TEXT = {"type": "text", "provider": "openai", "prompt": "Say hello"}


@pytest.fixture
def llm_queue(stack: Any, functions: Any) -> str:
    url = str(stack.resources["LlmTasksQueue"])
    drain(url)
    return url


def queued_messages(url: str) -> int:
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def table_items(stack: Any) -> int:
    """Items other than the rate-limit counters every request bumps."""
    scanned = boto3.client("dynamodb").scan(
        TableName=stack.resources["Table"], Select="COUNT",
        FilterExpression="sk <> :c", ExpressionAttributeValues={":c": {"S": "COUNTER"}})
    return int(scanned["Count"])


def test_create_queues_the_task_and_records_its_first_events(api: Any, llm_queue: str) -> None:
    status, body, headers = api("POST", "/api/tasks", body={**TEXT, "options": {"temperature": 0.2}})
    assert status == 201 and body["success"] is True
    task = body["data"]
    assert task["status"] == "queued" and task["model"] == "gpt-4o-mini" and task["attempt"] == 1
    assert task["request_snapshot"]["messages"] == [{"role": "user", "content": "Say hello"}]
    assert task["request_snapshot"]["options"] == {"temperature": 0.2}
    assert headers["Location"] == f"/api/tasks/{task['id']}"
    message = boto3.client("sqs").receive_message(QueueUrl=llm_queue)["Messages"][0]
    assert json.loads(message["Body"])["task_id"] == task["id"]
    status, events, _ = api("GET", f"/api/tasks/{task['id']}/events")
    assert [(e["seq"], e["type"]) for e in events["data"]] == [(1, "task:created"), (2, "task:queued")]
    status, after_one, _ = api("GET", f"/api/tasks/{task['id']}/events", query={"after": "1"})
    assert [e["seq"] for e in after_one["data"]] == [2]


def test_create_is_one_transaction_and_one_send(api: Any, llm_queue: str) -> None:
    """The task is written already queued with both events, the key's claim and the request's count at once;
    nothing is read (the quota's new count is known from the transaction's condition). A request that names no
    model reads the user's default model first: test_provider_settings.py."""
    (status, _, _), calls = calls_during(
        lambda: api("POST", "/api/tasks", body={**TEXT, "model": "gpt-4o-mini"},
                    headers={"idempotency-key": "count-me"}))
    assert status == 201
    assert calls == ["dynamodb.TransactWriteItems", "sqs.SendMessage"]


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"raw_body": "{not json"}, 400, "VALIDATION_ERROR"),
    ({"body": {"type": "text", "provider": "openai"}}, 400, "VALIDATION_ERROR"),
    ({"body": {**TEXT, "provider": "acme"}}, 400, "VALIDATION_ERROR"),
    ({"body": {**TEXT, "type": "poem"}}, 400, "VALIDATION_ERROR"),
    ({"body": {**TEXT, "options": {"temperature": 9}}}, 400, "VALIDATION_ERROR"),
    ({"body": {**TEXT, "surprise": 1}}, 400, "VALIDATION_ERROR"),
    ({"body": {**TEXT, "prompt": "x" * (256 * 1024 + 1)}}, 413, "PAYLOAD_TOO_LARGE"),
    ({"body": {**TEXT, "type": "video", "provider": "anthropic"}}, 422, "UNSUPPORTED_COMBINATION"),
])
def test_bad_create_input_is_refused_and_changes_nothing(
    api: Any, stack: Any, llm_queue: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    before = table_items(stack)
    got_status, body, _ = api("POST", "/api/tasks", **kwargs)
    assert (got_status, body["success"], body["error"]["code"]) == (status, False, code)
    assert body["requestId"] and body["timestamp"] and body["error"]["message"]
    assert table_items(stack) == before
    assert queued_messages(llm_queue) == 0


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"cursor": "garbage!"}, {"status": "asleep"}])
def test_bad_list_queries_are_refused(api: Any, query: dict[str, str]) -> None:
    status, body, _ = api("GET", "/api/tasks", query=query)
    assert status == 400 and body["success"] is False


def test_list_pages_with_cursor_and_filters(api: Any, llm_queue: str) -> None:
    user = "user-lister"
    made = [api("POST", "/api/tasks", user=user, body={**TEXT, "name": f"t{i}"})[1]["data"]["id"] for i in range(3)]
    status, first, _ = api("GET", "/api/tasks", user=user, query={"limit": "2"})
    assert status == 200 and first["pagination"]["hasMore"] is True
    next_page = {"limit": "2", "cursor": first["pagination"]["cursor"]}
    status, second, _ = api("GET", "/api/tasks", user=user, query=next_page)
    assert second["pagination"]["hasMore"] is False
    seen = [t["id"] for t in first["data"] + second["data"]]
    assert seen == list(reversed(made))  # newest first, each exactly once
    api("DELETE", f"/api/tasks/{made[0]}", user=user)
    _, cancelled, _ = api("GET", "/api/tasks", user=user, query={"status": "cancelled"})
    assert [t["id"] for t in cancelled["data"]] == [made[0]]
    created_at = first["data"][0]["created_at"]
    _, since, _ = api("GET", "/api/tasks", user=user, query={"created_from": created_at})
    assert [t["id"] for t in since["data"]] == [made[2]]
    _, other, _ = api("GET", "/api/tasks", user="someone-else")
    assert other["data"] == []


def test_another_user_cannot_see_or_touch_a_task(api: Any, llm_queue: str) -> None:
    task_id = api("POST", "/api/tasks", user="owner-1", body=TEXT)[1]["data"]["id"]
    for method, path in [("GET", ""), ("GET", "/events"), ("DELETE", ""), ("POST", "/retry")]:
        status, body, _ = api(method, f"/api/tasks/{task_id}{path}", user="intruder")
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), (method, path)
    assert api("GET", f"/api/tasks/{task_id}", user="owner-1")[1]["data"]["status"] == "queued"


def test_requests_without_identity_are_unauthorized(api: Any) -> None:
    status, body, _ = api("GET", "/api/tasks", user=None)
    assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")


def test_idempotency_key_returns_the_first_response(api: Any, llm_queue: str, stack: Any) -> None:
    headers = {"idempotency-key": "order-42"}
    s1, first, _ = api("POST", "/api/tasks", body=TEXT, headers=headers)
    s2, again, h2 = api("POST", "/api/tasks", body=TEXT, headers=headers)
    assert s1 == s2 == 201
    assert again["data"] == first["data"] and h2.get("Idempotent-Replayed") == "true"
    assert queued_messages(llm_queue) == 1
    s3, reused, _ = api("POST", "/api/tasks", body={**TEXT, "prompt": "other"}, headers=headers)
    assert (s3, reused["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    s4, other_user, _ = api("POST", "/api/tasks", user="user-b", body=TEXT, headers=headers)
    assert s4 == 201 and other_user["data"]["id"] != first["data"]["id"]


def test_cancel_then_purge_then_gone(api: Any, llm_queue: str) -> None:
    task_id = api("POST", "/api/tasks", body=TEXT)[1]["data"]["id"]
    status, cancelled, _ = api("DELETE", f"/api/tasks/{task_id}")
    assert status == 200 and cancelled["data"]["status"] == "cancelled"
    status, again, _ = api("DELETE", f"/api/tasks/{task_id}")  # a second DELETE keeps the history
    assert (status, again["error"]["code"]) == (409, "TASK_FINISHED")
    assert api("GET", f"/api/tasks/{task_id}/events")[1]["data"]
    status, deleted, _ = api("DELETE", f"/api/tasks/{task_id}", query={"purge": "true"})
    assert deleted["data"] == {"id": task_id, "deleted": True}
    assert api("GET", f"/api/tasks/{task_id}")[0] == 404


def test_retry_only_for_failed_or_cancelled_and_keeps_the_snapshot(api: Any, llm_queue: str) -> None:
    created = api("POST", "/api/tasks", body={**TEXT, "system": "be brief"})[1]["data"]
    status, body, _ = api("POST", f"/api/tasks/{created['id']}/retry")
    assert (status, body["error"]["code"]) == (409, "NOT_RETRYABLE")
    api("DELETE", f"/api/tasks/{created['id']}")
    status, retried, _ = api("POST", f"/api/tasks/{created['id']}/retry")
    assert status == 202
    assert retried["data"]["status"] == "queued" and retried["data"]["attempt"] == 2
    assert retried["data"]["request_snapshot"] == created["request_snapshot"]
    bodies = [json.loads(m["Body"]) for m in boto3.client("sqs").receive_message(
        QueueUrl=llm_queue, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(b["attempt"] for b in bodies) == [1, 2]


def test_a_failed_queue_send_answers_503_and_leaves_no_task(stack: Any, functions: Any) -> None:
    store = TaskStore(stack.resources["Table"])
    broken = TaskService(store, {Lane.LLM: stack.resources["LlmTasksQueue"] + "-missing"}, max_prompt_bytes=1000)
    before = table_items(stack)
    with pytest.raises(ServiceUnavailable):
        broken.create("user-a", TaskCreate.model_validate(TEXT), idempotency_key="k-503", trace_id=None)
    assert table_items(stack) == before


def test_health_version_and_openapi(api: Any, fake_openai: Any) -> None:
    status, health, _ = api("GET", "/api/health", user=None)
    assert status == 200 and health["data"]["status"] == "healthy"
    assert all(check["ok"] for check in health["data"]["checks"].values())
    assert api("GET", "/api/version", user=None)[1]["data"]["version"]
    response = api.module.lambda_handler(http_event("GET", "/api/openapi.json", user=None), LambdaContext())
    spec = json.loads(response["body"])
    assert "/api/tasks" in spec["paths"] and "post" in spec["paths"]["/api/tasks"]
    docs = api.module.lambda_handler(http_event("GET", "/api/docs", user=None), LambdaContext())
    assert docs["statusCode"] == 200 and "swagger" in docs["body"].lower()
