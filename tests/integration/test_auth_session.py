"""Sign-in cookies, refresh from the httpOnly cookie, and sign-out, through the API function against moto's
Cognito."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import LambdaContext, http_event

PASSWORD = "Session-Passw0rd-1"


@pytest.fixture(scope="module")
def account(stack: Any, functions: Any) -> str:
    username = "session@spoonfeeder.local"
    idp = boto3.client("cognito-idp")
    idp.admin_create_user(UserPoolId=stack.user_pool_id, Username=username, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": username}])
    idp.admin_set_user_password(UserPoolId=stack.user_pool_id, Username=username, Password=PASSWORD,
                                Permanent=True)
    return username


def call(api: Any, path: str, *, cookies: list[str] | None = None, body: Any = None,
         source_ip: str = "198.51.100.7") -> tuple[int, Any, dict[str, str]]:
    event = http_event("POST", path, user=None, body=body)
    event["requestContext"]["http"]["sourceIp"] = source_ip
    if cookies:
        event["cookies"] = cookies
    response = api.module.lambda_handler(event, LambdaContext())
    set_cookies = {c.split("=", 1)[0]: c for c in response.get("cookies") or []}
    return response["statusCode"], json.loads(response["body"]), set_cookies


def pair(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0]


def test_login_sets_an_httponly_refresh_cookie_scoped_to_auth(api: Any, account: str) -> None:
    status, body, cookies = call(api, "/api/auth/login", body={"username": account, "password": PASSWORD})
    assert status == 200 and body["data"]["refreshToken"]
    refresh = cookies["sf_refresh"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/api/auth"):
        assert attribute in refresh
    assert "Path=/;" in cookies["sf_token"] and "HttpOnly" in cookies["sf_token"]


def test_refresh_with_the_cookie_gives_new_tokens_and_fails_without_it(api: Any, account: str) -> None:
    _, signed_in, cookies = call(api, "/api/auth/login", body={"username": account, "password": PASSWORD})
    status, refreshed, new_cookies = call(api, "/api/auth/refresh", cookies=[pair(cookies["sf_refresh"])])
    assert status == 200 and refreshed["data"]["accessToken"]
    assert refreshed["data"]["accessToken"] != signed_in["data"]["accessToken"]
    assert pair(new_cookies["sf_token"]) == f"sf_token={refreshed['data']['accessToken']}"
    status, refused, _ = call(api, "/api/auth/refresh")
    assert (status, refused["error"]["code"]) == (401, "SESSION_EXPIRED")
    status, refused, _ = call(api, "/api/auth/refresh", cookies=["sf_refresh=forged-token"])
    assert (status, refused["error"]["code"]) == (401, "SESSION_EXPIRED")


def test_logout_revokes_the_refresh_token_and_clears_both_cookies(api: Any, account: str) -> None:
    _, _, cookies = call(api, "/api/auth/login", body={"username": account, "password": PASSWORD})
    sent = [pair(cookies["sf_token"]), pair(cookies["sf_refresh"])]
    status, body, cleared = call(api, "/api/auth/logout", cookies=sent)
    assert (status, body["data"]) == (200, {"signedOut": True})
    assert {name: ("Max-Age=0" in c) for name, c in cleared.items()} == {"sf_token": True, "sf_refresh": True}
    status, refused, _ = call(api, "/api/auth/refresh", cookies=[pair(cookies["sf_refresh"])])
    assert (status, refused["error"]["code"]) == (401, "SESSION_EXPIRED")
    status, again, cleared = call(api, "/api/auth/logout", cookies=sent)  # nothing left to end: still clears
    assert (status, again["data"]["signedOut"]) == (200, False) and set(cleared) == {"sf_token", "sf_refresh"}


def test_logout_with_only_the_refresh_cookie_still_revokes_it(api: Any, account: str) -> None:
    _, _, cookies = call(api, "/api/auth/login", body={"username": account, "password": PASSWORD})
    status, body, _ = call(api, "/api/auth/logout", cookies=[pair(cookies["sf_refresh"])])
    assert (status, body["data"]["signedOut"]) == (200, True)
    assert call(api, "/api/auth/refresh", cookies=[pair(cookies["sf_refresh"])])[0] == 401
