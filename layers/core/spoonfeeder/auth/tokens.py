"""Verification of Cognito JWTs the way API Gateway's JWT authorizer does it (used where no authorizer runs:
the WebSocket $connect)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from spoonfeeder.errors import Unauthorized

if TYPE_CHECKING:
    import jwt

SESSION_COOKIE = "sf_token"
REFRESH_COOKIE = "sf_refresh"
#: The user pool client's RefreshTokenValidity (30 days in template.yaml).
REFRESH_MAX_AGE = 30 * 24 * 3600


def session_cookie(token: str, *, max_age: int) -> str:
    """The httpOnly cookie login sets: a browser sends it along with the WebSocket upgrade."""
    return f"{SESSION_COOKIE}={token}; Max-Age={max_age}; Path=/; HttpOnly; Secure; SameSite=Strict"


def refresh_cookie(token: str, *, max_age: int = REFRESH_MAX_AGE) -> str:
    """The refresh token, sent only to /api/auth (refresh, logout) and never readable by scripts."""
    return f"{REFRESH_COOKIE}={token}; Max-Age={max_age}; Path=/api/auth; HttpOnly; Secure; SameSite=Strict"


def cleared_cookies() -> list[str]:
    """Both cookies expired at once (what logout sets)."""
    return [session_cookie("", max_age=0), refresh_cookie("", max_age=0)]


def cookie(pairs: list[str], name: str) -> str | None:
    """The value of cookie `name` among `name=value` pairs (a Cookie header split on `;`, or the
    `cookies` list of an HTTP API event)."""
    for part in pairs:
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def from_cookie_header(header: str) -> str | None:
    return cookie(header.split(";"), SESSION_COOKIE)


@cache
def _keys(jwks_url: str) -> jwt.PyJWKClient:
    import jwt  # here, not at the top: PyJWT and cryptography load on the first $connect, not at every cold start

    return jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=5)


def verify(token: str, *, jwks_url: str, issuer: str, audience: str) -> dict[str, Any]:
    """Claims of a valid token (signature, expiry, issuer, and `aud` or `client_id`); else Unauthorized."""
    import jwt  # see _keys

    try:
        key = _keys(jwks_url).get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=["RS256"], issuer=issuer,
                                            options={"verify_aud": False, "require": ["exp", "iss", "sub"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid or expired token") from exc
    if (claims.get("aud") or claims.get("client_id")) != audience:
        raise Unauthorized("token was issued for another client")
    return claims
