"""Per-user request quotas and login throttling, through the API function's real routes."""

from __future__ import annotations

import sys
from typing import Any

import boto3
import pytest
from spoonfeeder.data.counters import Counters
from spoonfeeder.ratelimit import Quota, RequestQuota


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


def test_sign_in_is_refused_after_repeated_failures(api: Any, stack: Any) -> None:
    idp = boto3.client("cognito-idp")
    username, password = "throttled@spoonfeeder.local", "Right-Passw0rd-1"
    idp.admin_create_user(UserPoolId=stack.user_pool_id, Username=username, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": username}])
    idp.admin_set_user_password(UserPoolId=stack.user_pool_id, Username=username, Password=password,
                                Permanent=True)
    assert api("POST", "/api/auth/login", user=None, body={"username": username, "password": password})[0] == 200
    for _ in range(5):
        status, body, _ = api("POST", "/api/auth/login", user=None, body={"username": username, "password": "bad"})
        assert (status, body["error"]["code"]) == (401, "INVALID_CREDENTIALS")
    status, body, headers = api("POST", "/api/auth/login", user=None,
                                body={"username": username, "password": password})
    assert (status, body["error"]["code"]) == (429, "LOGIN_THROTTLED") and int(headers["Retry-After"]) >= 1
