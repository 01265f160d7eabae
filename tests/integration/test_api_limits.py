"""Per-user request quotas and login throttling, through the API function's real routes."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import boto3
import pytest
from spoonfeeder.data.counters import Counters
from spoonfeeder.ratelimit import LoginThrottle, Quota, RequestQuota, Ticket

from tests.conftest import LambdaContext, calls_during, drain, http_event


def test_answers_carry_rate_limit_headers_and_429_beyond_the_quota(
    api: Any, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = RequestQuota(Counters(stack.resources["Table"]), Quota(limit=3, window_seconds=60))
    monkeypatch.setattr(sys.modules["routers.quota"], "request_quota", lambda: small)
    answers = [api("GET", "/api/tasks", user="quota-user") for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 429]
    assert [h["X-RateLimit-Remaining"] for _, _, h in answers] == ["2", "1", "0", "0"]
    _, body, headers = answers[-1]
    assert body["error"]["code"] == "RATE_LIMITED" and int(headers["Retry-After"]) >= 1
    assert headers["X-RateLimit-Limit"] == "3" and headers["X-RateLimit-Window"] == "60"
    assert api("GET", "/api/tasks", user="another-user")[0] == 200  # quotas are per user


def test_creates_count_in_their_own_transaction_and_past_the_quota_write_nothing(
    api: Any, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = RequestQuota(Counters(stack.resources["Table"]), Quota(limit=3, window_seconds=60))
    monkeypatch.setattr(sys.modules["routers.quota"], "request_quota", lambda: small)
    sqs, queue = boto3.client("sqs"), str(stack.resources["LlmTasksQueue"])
    drain(queue)
    task = {"type": "text", "provider": "openai", "prompt": "count me"}
    user = "create-quota-user"
    first = api("POST", "/api/tasks", user=user, body=task)
    # Refused by the route before its transaction: counted all the same, the usual way.
    bad = api("POST", "/api/tasks", user=user, body={**task, "type": "video", "provider": "anthropic"})
    second = api("POST", "/api/tasks", user=user, body=task)
    refused = api("POST", "/api/tasks", user=user, body=task)
    assert [a[0] for a in (first, bad, second, refused)] == [201, 422, 201, 429]
    assert [a[2]["X-RateLimit-Remaining"] for a in (first, bad, second, refused)] == ["2", "1", "0", "0"]
    assert refused[1]["error"]["code"] == "RATE_LIMITED" and int(refused[2]["Retry-After"]) >= 1
    # The refused create wrote and sent nothing: the user has exactly the two tasks that were created.
    listed = api("GET", "/api/tasks", user=user)
    assert listed[0] == 429  # the quota is used up for every route now
    owned = boto3.client("dynamodb").query(
        TableName=stack.resources["Table"], IndexName="gsi1", KeyConditionExpression="gsi1pk = :o",
        ExpressionAttributeValues={":o": {"S": f"OWNER#{user}"}})["Items"]
    assert len(owned) == 2
    owners = []  # (a message of another test may come back meanwhile: count this user's)
    while sent := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        owners += [json.loads(m["Body"])["owner"] for m in sent]
        sqs.delete_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(sent)])
    assert owners.count(user) == 2


def test_a_replayed_create_is_counted_too(api: Any, stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    small = RequestQuota(Counters(stack.resources["Table"]), Quota(limit=3, window_seconds=60))
    monkeypatch.setattr(sys.modules["routers.quota"], "request_quota", lambda: small)
    task, key = {"type": "text", "provider": "openai", "prompt": "once"}, {"idempotency-key": "replay-counted"}
    answers = [api("POST", "/api/tasks", user="replay-quota-user", body=task, headers=key) for _ in range(4)]
    assert [a[0] for a in answers] == [201, 201, 201, 429]
    assert [a[2].get("Idempotent-Replayed") for a in answers[:3]] == [None, "true", "true"]
    assert [a[2]["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]


def _owned(stack: Any, user: str) -> int:
    return len(boto3.client("dynamodb").query(
        TableName=stack.resources["Table"], IndexName="gsi1", KeyConditionExpression="gsi1pk = :o",
        ExpressionAttributeValues={":o": {"S": f"OWNER#{user}"}})["Items"])


def test_a_create_stays_exact_when_another_container_counted_meanwhile(
    api: Any, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This container's last known count is stale: the transaction misses once, learns the real count from the
    cancellation and counts again; the headers stay exact and nothing is written twice."""
    quota, table = Quota(limit=5, window_seconds=60), stack.resources["Table"]
    ours, other = RequestQuota(Counters(table), quota), RequestQuota(Counters(table), quota)
    monkeypatch.setattr(sys.modules["routers.quota"], "request_quota", lambda: ours)
    # The model named: a request without one reads the user's default model first (not the quota's business).
    task = {"type": "text", "provider": "openai", "model": "gpt-4o-mini", "prompt": "count me exactly"}
    user = "two-containers-user"
    first, calls = calls_during(lambda: api("POST", "/api/tasks", user=user, body=task))
    assert (first[0], first[2]["X-RateLimit-Remaining"]) == (201, "4")
    assert calls == ["dynamodb.TransactWriteItems", "sqs.SendMessage"]  # the count known, not read
    other.take(user)
    other.take(user)  # another container answered two requests of the user: 3 of 5 used
    second, calls = calls_during(lambda: api("POST", "/api/tasks", user=user, body=task))
    assert (second[0], second[2]["X-RateLimit-Remaining"]) == (201, "1")
    assert calls == ["dynamodb.TransactWriteItems", "dynamodb.TransactWriteItems", "sqs.SendMessage"]
    assert _owned(stack, user) == 2
    other.take(user)  # 5 of 5: the next create misses, and the real count is past the quota
    refused, calls = calls_during(lambda: api("POST", "/api/tasks", user=user, body=task))
    assert (refused[0], refused[1]["error"]["code"], refused[2]["X-RateLimit-Remaining"]) == (429, "RATE_LIMITED", "0")
    assert int(refused[2]["Retry-After"]) >= 1
    assert calls == ["dynamodb.TransactWriteItems"]  # the miss wrote nothing
    again, calls = calls_during(lambda: api("POST", "/api/tasks", user=user, body=task))
    assert again[0] == 429 and calls == []  # known past the quota: refused before any call
    assert _owned(stack, user) == 2


def test_a_create_racing_many_containers_falls_back_to_reading_its_count(
    api: Any, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each exact try loses to another container's count; then the count is only held below the quota, and
    the new count is read after the write: still exact, still one task."""
    from spoonfeeder.data.aws import client

    quota, table = Quota(limit=10, window_seconds=60), stack.resources["Table"]
    ours, other = RequestQuota(Counters(table), quota), RequestQuota(Counters(table), quota)
    other.counters.ddb = boto3.client("dynamodb")  # its own client: its calls are not the API function's
    monkeypatch.setattr(sys.modules["routers.quota"], "request_quota", lambda: ours)
    user, tries = "racing-containers-user", []

    def another_request_first(**_: Any) -> None:
        tries.append(1)
        if len(tries) <= Ticket.EXACT_TRIES:
            other.take(user)

    client("dynamodb").meta.events.register("before-call.dynamodb.TransactWriteItems", another_request_first)
    try:
        (status, _, headers), calls = calls_during(lambda: api(
            "POST", "/api/tasks", user=user,
            body={"type": "text", "provider": "openai", "model": "gpt-4o-mini", "prompt": "race"}))
    finally:
        client("dynamodb").meta.events.unregister("before-call.dynamodb.TransactWriteItems", another_request_first)
    assert status == 201 and headers["X-RateLimit-Remaining"] == str(10 - Ticket.EXACT_TRIES - 1)
    assert calls == ["dynamodb.TransactWriteItems"] * (Ticket.EXACT_TRIES + 1) + ["dynamodb.GetItem",
                                                                                  "sqs.SendMessage"]
    assert _owned(stack, user) == 1


def _make_user(stack: Any, username: str, password: str) -> None:
    idp = boto3.client("cognito-idp")
    idp.admin_create_user(UserPoolId=stack.user_pool_id, Username=username, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": username}])
    idp.admin_set_user_password(UserPoolId=stack.user_pool_id, Username=username, Password=password,
                                Permanent=True)


def test_sign_in_is_refused_after_repeated_failures(api: Any, stack: Any) -> None:
    username, password = "throttled@spoonfeeder.local", "Right-Passw0rd-1"
    _make_user(stack, username, password)
    assert api("POST", "/api/auth/login", user=None, body={"username": username, "password": password})[0] == 200
    for _ in range(5):
        status, body, _ = api("POST", "/api/auth/login", user=None, body={"username": username, "password": "bad"})
        assert (status, body["error"]["code"]) == (401, "INVALID_CREDENTIALS")
    status, body, headers = api("POST", "/api/auth/login", user=None,
                                body={"username": username, "password": password})
    assert (status, body["error"]["code"]) == (429, "LOGIN_THROTTLED") and int(headers["Retry-After"]) >= 1


def _login(api: Any, username: str, password: str, source_ip: str) -> tuple[int, Any, dict]:
    event = http_event("POST", "/api/auth/login", user=None, body={"username": username, "password": password})
    event["requestContext"]["http"]["sourceIp"] = source_ip
    response = api.module.lambda_handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"]), response.get("headers") or {}


def test_failures_from_one_address_do_not_lock_the_owner_out(api: Any, stack: Any) -> None:
    username, password = "owner@spoonfeeder.local", "Owner-Passw0rd-1"
    _make_user(stack, username, password)
    attacker, owner = "203.0.113.66", "198.51.100.20"
    codes = [_login(api, username, "guess", attacker)[1]["error"]["code"] for _ in range(8)]
    assert codes == ["INVALID_CREDENTIALS"] * 5 + ["LOGIN_THROTTLED"] * 3
    status, body, headers = _login(api, username, password, attacker)  # even the right password, from there
    assert (status, body["error"]["code"]) == (429, "LOGIN_THROTTLED") and int(headers["Retry-After"]) >= 1
    status, body, _ = _login(api, username, password, owner)
    assert status == 200 and body["data"]["accessToken"]


def test_failures_spread_over_many_addresses_meet_a_looser_per_username_cap(
    api: Any, stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tight = LoginThrottle(Counters(stack.resources["Table"]), Quota(limit=2, window_seconds=900))
    monkeypatch.setattr(importlib.import_module("routers.auth"), "login_throttle", lambda: tight)
    cap = 2 * LoginThrottle.PER_USERNAME_FACTOR
    username = "spread@spoonfeeder.local"  # no such user: failures count all the same
    codes = [_login(api, username, "guess", f"192.0.2.{i}")[1]["error"]["code"] for i in range(cap + 1)]
    assert codes == ["INVALID_CREDENTIALS"] * cap + ["LOGIN_THROTTLED"]
    assert _login(api, username, "guess", "192.0.2.250")[0] == 429  # a fresh address too, for this username
    assert _login(api, "someone-else@spoonfeeder.local", "guess", "192.0.2.250")[0] == 401
