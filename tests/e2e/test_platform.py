"""A user's view of the whole platform: log in, create tasks, watch them live, and survive faults."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import Cloud, User, aws, receive, wait_for_status

pytestmark = pytest.mark.e2e
TEXT = {"type": "text", "provider": "openai", "prompt": "stream me a short answer please " * 4}


def is_done(task_id: str) -> Any:
    return lambda m: m.get("type") == "event" and m["event"]["task_id"] == task_id and m["event"]["type"] in (
        "task:completed", "task:failed")


def test_health_reports_healthy(cloud: Cloud) -> None:
    health = httpx.get(f"{cloud.api}/health").json()
    assert health["success"] is True and health["data"]["status"] == "healthy"
    assert health["data"]["provider_keys"]["openai"] == {"configured": True, "simulated": False}


def test_login_returns_tokens_and_an_httponly_cookie(cloud: Cloud) -> None:
    response = httpx.post(f"{cloud.api}/auth/login",
                          json={"username": cloud.info["username"], "password": cloud.info["password"]})
    cookie = response.headers["set-cookie"]
    assert response.status_code == 200 and response.json()["data"]["accessToken"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
    wrong = httpx.post(f"{cloud.api}/auth/login", json={"username": cloud.info["username"], "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "INVALID_CREDENTIALS"


def test_the_api_refuses_requests_without_a_token(cloud: Cloud) -> None:
    assert httpx.get(f"{cloud.api}/tasks").status_code == 401


def test_a_task_streams_live_in_seq_order(alice: User, openai: Any) -> None:
    openai.chunk_delay = 0.03
    with alice.socket() as ws:
        ws.send(json.dumps({"action": "subscribe", "topic": f"owner:{alice.id}"}))
        assert receive(ws, lambda m: m["type"] == "subscribed")[-1]["topic"] == f"owner:{alice.id}"
        created = alice.call("POST", "/tasks", json=TEXT)
        assert created.status_code == 201
        task_id = created.json()["data"]["id"]
        events = [m["event"] for m in receive(ws, is_done(task_id)) if m["type"] == "event"]
    mine = [e for e in events if e["task_id"] == task_id]
    types = [e["type"] for e in mine]
    assert types[:3] == ["task:created", "task:queued", "task:started"] and types[-1] == "task:completed"
    assert "task:delta" in types and set(types[3:-1]) == {"task:delta"}
    assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1))
    task = alice.call("GET", f"/tasks/{task_id}").json()["data"]
    assert task["status"] == "succeeded"
    assert task["result"]["text"] == "".join(e["data"]["text"] for e in mine if e["type"] == "task:delta")
    assert task["result"]["text"].startswith("Echo: stream me")


def test_resume_replays_exactly_the_missed_events(alice: User, openai: Any) -> None:
    task_id = alice.call("POST", "/tasks", json=TEXT).json()["data"]["id"]
    wait_for_status(alice, task_id, {"succeeded"})
    recorded = alice.call("GET", f"/tasks/{task_id}/events").json()["data"]
    with alice.socket() as ws:
        ws.send(json.dumps({"action": "resume", "topic": f"task:{task_id}", "after_seq": 2}))
        got = receive(ws, lambda m: m["type"] == "resumed")
    replayed = [m["event"] for m in got if m["type"] == "event"]
    assert replayed == recorded[2:]
    assert got[-1]["count"] == len(recorded) - 2 and got[-1]["last_seq"] == recorded[-1]["seq"]


def test_another_user_can_neither_read_nor_watch(alice: User, bob: User, openai: Any) -> None:
    task_id = alice.call("POST", "/tasks", json=TEXT).json()["data"]["id"]
    for method, path in [("GET", ""), ("GET", "/events"), ("DELETE", ""), ("POST", "/retry")]:
        response = bob.call(method, f"/tasks/{task_id}{path}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    with bob.socket() as ws:
        for topic in (f"task:{task_id}", f"owner:{alice.id}"):
            ws.send(json.dumps({"action": "subscribe", "topic": topic}))
            reply = receive(ws, lambda m: m["type"] in ("error", "subscribed"))[-1]
            assert reply["type"] == "error" and reply["error"]["code"] == "TOPIC_FORBIDDEN"
        ws.send(json.dumps({"action": "ping"}))
        assert receive(ws, lambda m: m["type"] == "pong")[-1]["type"] == "pong"
    assert alice.call("GET", f"/tasks/{task_id}").status_code == 200


def test_a_socket_without_a_valid_token_is_refused(cloud: Cloud) -> None:
    from websockets.sync.client import connect

    for url in (cloud.info["ws_url"], f"{cloud.info['ws_url']}?token=not-a-jwt"):
        with pytest.raises(InvalidStatus) as refused, connect(url, open_timeout=10):
            pass
        assert refused.value.response.status_code == 401


def test_rate_limits_are_retried_then_succeed(alice: User, openai: Any) -> None:
    openai.fail_next(status=429, times=2, retry_after=1)
    task_id = alice.call("POST", "/tasks", json=TEXT).json()["data"]["id"]
    task = wait_for_status(alice, task_id, {"succeeded", "failed"})
    types = [e["type"] for e in alice.call("GET", f"/tasks/{task_id}/events").json()["data"]]
    assert task["status"] == "succeeded" and types.count("task:retrying") == 2
    assert openai.chat_calls == 3


def test_a_rejected_api_key_fails_without_retry(alice: User, openai: Any) -> None:
    openai.fail_next(status=401)
    task_id = alice.call("POST", "/tasks", json=TEXT).json()["data"]["id"]
    task = wait_for_status(alice, task_id, {"succeeded", "failed"})
    assert task["status"] == "failed" and task["error"]["code"] == "INVALID_API_KEY"
    assert openai.chat_calls == 1


def test_a_provider_that_stays_down_ends_in_retries_exhausted(alice: User, openai: Any) -> None:
    openai.set_down(True)
    task_id = alice.call("POST", "/tasks", json=TEXT).json()["data"]["id"]
    task = wait_for_status(alice, task_id, {"succeeded", "failed"}, timeout=60)
    assert task["status"] == "failed" and task["error"]["code"] == "RETRIES_EXHAUSTED"
    assert openai.chat_calls == 3


def test_idempotency_key_creates_one_task(alice: User, openai: Any) -> None:
    headers = {"idempotency-key": "e2e-once"}
    first = alice.call("POST", "/tasks", json=TEXT, headers=headers).json()["data"]
    again = alice.call("POST", "/tasks", json=TEXT, headers=headers)
    assert again.status_code == 201 and again.json()["data"]["id"] == first["id"]
    listed = alice.call("GET", "/tasks", params={"limit": 100}).json()["data"]
    assert [t["id"] for t in listed].count(first["id"]) == 1


def test_a_duplicate_delivery_runs_the_provider_once(cloud: Cloud, alice: User, openai: Any) -> None:
    openai.chunk_delay = 0.05  # still streaming when the duplicate arrives
    task_id = alice.call("POST", "/tasks", json=TEXT).json()["data"]["id"]
    sqs = aws(cloud, "sqs")
    duplicate = json.dumps({"task_id": task_id, "owner": alice.id, "attempt": 1})
    sqs.send_message(QueueUrl=cloud.info["resources"]["LlmTasksQueue"], MessageBody=duplicate)
    wait_for_status(alice, task_id, {"succeeded", "failed"})
    sqs.send_message(QueueUrl=cloud.info["resources"]["LlmTasksQueue"], MessageBody=duplicate)  # and after
    time.sleep(3)
    types = [e["type"] for e in alice.call("GET", f"/tasks/{task_id}/events").json()["data"]]
    assert openai.chat_calls == 1
    assert types.count("task:started") == 1 and types.count("task:completed") == 1


def test_unsubscribe_stops_the_pushes(alice: User, openai: Any) -> None:
    topic = f"owner:{alice.id}"
    with alice.socket() as ws:
        ws.send(json.dumps({"action": "subscribe", "topic": topic}))
        receive(ws, lambda m: m["type"] == "subscribed")
        ws.send(json.dumps({"action": "unsubscribe", "topic": topic}))
        receive(ws, lambda m: m["type"] == "unsubscribed")
        task_id = alice.call("POST", "/tasks", json=TEXT).json()["data"]["id"]
        wait_for_status(alice, task_id, {"succeeded"})
        time.sleep(1)  # pushes trail the records by the stream's polling
        ws.send(json.dumps({"action": "ping"}))
        after = receive(ws, lambda m: m["type"] == "pong")
    assert [m["type"] for m in after] == ["pong"]
