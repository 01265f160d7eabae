"""Sessions through the local cloud's gateway as a browser holds them: the httpOnly cookies login sets, a
refresh from the refresh cookie alone, and a logout that ends the session and clears both cookies."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Cloud


def _cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name (the cookies are Secure, so a client would not send them over http:
    the test sends them itself)."""
    return {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}


def test_refresh_from_the_cookie_then_logout_ends_the_session(cloud: Cloud) -> None:
    login = httpx.post(f"{cloud.api}/auth/login",
                       json={"username": cloud.info["username"], "password": cloud.info["password"]})
    assert login.status_code == 200
    set_cookies = _cookies(login)
    refresh_pair = set_cookies["sf_refresh"].split(";", 1)[0]
    assert "Path=/api/auth" in set_cookies["sf_refresh"] and "HttpOnly" in set_cookies["sf_refresh"]

    refreshed = httpx.post(f"{cloud.api}/auth/refresh", headers={"cookie": refresh_pair})  # no bearer token
    assert refreshed.status_code == 200
    token = refreshed.json()["data"]["accessToken"]
    assert _cookies(refreshed)["sf_token"].startswith(f"sf_token={token};")
    me = httpx.get(f"{cloud.api}/auth/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200

    out = httpx.post(f"{cloud.api}/auth/logout", headers={"cookie": refresh_pair})
    assert out.status_code == 200 and out.json()["data"]["signedOut"] is True
    assert all("Max-Age=0" in c for c in _cookies(out).values()) and set(_cookies(out)) == {"sf_token", "sf_refresh"}
    again = httpx.post(f"{cloud.api}/auth/refresh", headers={"cookie": refresh_pair})
    assert (again.status_code, again.json()["error"]["code"]) == (401, "SESSION_EXPIRED")
    assert httpx.post(f"{cloud.api}/auth/refresh").status_code == 401


def test_the_authorizer_answers_its_own_401(cloud: Cloud) -> None:
    for headers in ({}, {"authorization": "Bearer not.a.jwt"}):
        refused = httpx.get(f"{cloud.api}/tasks", headers=headers)
        assert (refused.status_code, refused.content) == (401, b'{"message":"Unauthorized"}')
