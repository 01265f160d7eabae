"""The HTTP API half of the local API Gateway: routes, JWT authorizer, throttling, payload format 2.0.

Requests become the events an API Gateway HTTP API sends to a Lambda proxy integration (payload format
2.0), and the function's return value is interpreted the way API Gateway interprets it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt
from aiohttp import web

log = logging.getLogger("localcloud.gateway")

Invoke = Callable[[str, dict], Awaitable[Any]]

#: API Gateway's limits: HTTP API payload size and integration timeout.
MAX_HTTP_PAYLOAD = 10 * 1024 * 1024
INTEGRATION_TIMEOUT = 30.0

_ID_ALPHABET = string.ascii_letters + string.digits
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES = ("application/json", "application/javascript", "application/xml", "application/graphql",
               "application/ld+json", "application/x-ndjson", "application/yaml")


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP API route. Any object with these four attributes will do (``localcloud.apis.HttpRoute``,
    which the template reader produces, has the same fields)."""

    method: str  # "GET", "POST", ..., or "ANY"
    path: str  # as in the template: "/api/health", "/api/{proxy+}", "/api/tasks/{id}"
    function: str  # logical id of the Lambda function
    authorized: bool  # False for Auth: NONE routes


def route_key(route: HttpRoute) -> str:
    return f"{route.method.upper()} {route.path}"


def new_request_id() -> str:
    """An id shaped like API Gateway's (``"Bv3kKcTaIAMCJZw="``): 15 characters and ``=``."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(15)) + "="


def clf_time(epoch: float) -> str:
    """``22/Nov/2026:10:00:00 +0000`` (API Gateway's requestContext.time), locale-independent."""
    t = datetime.fromtimestamp(epoch, tz=UTC)
    return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    """API Gateway's own answers, byte for byte: compact JSON such as ``{"message":"Unauthorized"}``."""
    return web.Response(status=status, body=json.dumps(payload, separators=(",", ":")).encode(),
                        content_type="application/json", headers=headers)


# ----------------------------------------------------------------------------------------------- routes
class RouteTable:
    """Chooses a route like HTTP APIs do: per path segment a literal beats ``{param}`` beats
    ``{proxy+}``; for the same path an exact method beats ``ANY``."""

    def __init__(self, routes: list[HttpRoute]) -> None:
        compiled = []
        for route in routes:
            segments = route.path.strip("/").split("/") if route.path.strip("/") else []
            parts: list[tuple[int, str]] = []
            for i, seg in enumerate(segments):
                if seg.startswith("{") and seg.endswith("+}"):
                    if i != len(segments) - 1:
                        raise ValueError(f"greedy path variable must be last: {route.path}")
                    parts.append((2, seg[1:-2]))
                elif seg.startswith("{") and seg.endswith("}"):
                    parts.append((1, seg[1:-1]))
                else:
                    parts.append((0, seg))
            rank = (*(kind for kind, _ in parts), 3)  # the trailing 3 sorts longer literal paths first
            compiled.append((rank, route.method.upper() == "ANY", route, parts))
        compiled.sort(key=lambda c: (c[0], c[1]))
        self._routes = compiled

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        segments = path.strip("/").split("/") if path.strip("/") else []
        if path.endswith("/") and segments:
            segments.append("")
        for _, _, route, parts in self._routes:
            if route.method.upper() not in ("ANY", method.upper()):
                continue
            params = _match_parts(parts, segments)
            if params is not None:
                return route, params
        return None


def _match_parts(parts: list[tuple[int, str]], segments: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, (kind, value) in enumerate(parts):
        if kind == 2:
            rest = "/".join(segments[i:])
            if not rest:
                return None
            params[value] = rest
            return params
        if i >= len(segments):
            return None
        if kind == 0 and segments[i] != value:
            return None
        if kind == 1:
            if not segments[i]:
                return None
            params[value] = segments[i]
    return params if len(segments) == len(parts) else None


# ------------------------------------------------------------------------------------------ throttling
class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = float(rate), int(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


# ------------------------------------------------------------------------------------------ authorizer
class Unauthorized(Exception):
    def __init__(self, description: str | None = None) -> None:
        super().__init__(description or "no token")
        self.description = description


class JwtAuthorizer:
    """The HTTP API JWT authorizer: RS256 signature against the JWKS, ``iss``, ``exp``/``nbf``/``iat``,
    and ``aud`` (ID tokens) or, when there is no ``aud``, ``client_id`` (access tokens)."""

    def __init__(self, issuer: str, audience: list[str], jwks_url: str) -> None:
        self.issuer, self.audience = issuer, list(audience)
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    async def authorize(self, header: str | None) -> dict[str, Any]:
        if not header or not header.strip():
            raise Unauthorized()
        token = header.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=self.issuer,
                                options={"verify_aud": False, "require": ["exp", "iss"]})
        except jwt.PyJWKClientConnectionError:
            log.exception("JWT authorizer: cannot fetch the JWKS")
            raise Unauthorized("unable to fetch the signing keys") from None
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("the token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("the token does not have a valid issuer") from None
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        aud = claims.get("aud")
        if aud is not None:
            auds = [aud] if isinstance(aud, str) else list(aud)
            if not any(a in self.audience for a in auds):
                raise Unauthorized("the token does not have a valid audience")
        elif claims.get("client_id") not in self.audience:
            raise Unauthorized("the token does not have a valid audience")
        return claims


def claim_str(value: Any) -> str:
    """Claims as the authorizer passes them on: every value a string, lists as ``[a b]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(claim_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def unauthorized_response(exc: Unauthorized) -> web.Response:
    challenge = "Bearer"
    if exc.description:
        desc = exc.description.replace('"', "'")
        challenge = f'Bearer scope="" error="invalid_token" error_description="{desc}"'
    return json_response(401, {"message": "Unauthorized"}, {"www-authenticate": challenge})


# ------------------------------------------------------------------------------------------------ events
def is_text(content_type: str) -> bool:
    ct = content_type.split(";")[0].strip().lower()
    return (ct.startswith("text/") or ct in _TEXT_TYPES or ct.endswith("+json") or ct.endswith("+xml"))


def build_http_event(request: web.Request, body: bytes, route: HttpRoute, params: dict[str, str], *,
                     api_id: str, account_id: str, request_id: str,
                     claims: dict[str, Any] | None) -> dict[str, Any]:
    now = time.time()
    key = route_key(route)
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers.items():
        lname = name.lower()
        if lname == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[lname] = f"{headers[lname]},{value}" if lname in headers else value
    peer = request.remote or "127.0.0.1"
    headers["x-forwarded-for"] = f"{headers['x-forwarded-for']}, {peer}" if "x-forwarded-for" in headers \
        else peer
    headers.setdefault("x-forwarded-proto", request.scheme)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    headers.setdefault("x-forwarded-port", str(sockname[1]) if sockname else "80")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{secrets.token_hex(12)}")
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    domain = request.headers.get("Host", request.host)
    context: dict[str, Any] = {"accountId": account_id, "apiId": api_id}
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": {k: claim_str(v) for k, v in claims.items()},
                                         "scopes": None}}
    context.update({
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {"method": request.method, "path": request.path, "protocol": "HTTP/1.1",
                 "sourceIp": peer, "userAgent": request.headers.get("User-Agent", "")},
        "requestId": request_id,
        "routeKey": key,
        "stage": "$default",
        "time": clf_time(now),
        "timeEpoch": int(now * 1000),
    })
    event: dict[str, Any] = {"version": "2.0", "routeKey": key, "rawPath": request.path,
                             "rawQueryString": request.rel_url.raw_query_string}
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    event["requestContext"] = context
    if body:
        ctype = request.headers.get("Content-Type")
        text = None
        if ctype is None or is_text(ctype):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def to_http_response(result: Any) -> web.Response:
    """Interpret a function's return value as payload format 2.0 does."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return web.Response(status=200, body=json.dumps(result).encode(), content_type="application/json")
    status = int(result["statusCode"])
    if not 100 <= status <= 599:
        raise ValueError(f"bad statusCode {status}")
    raw_body = result.get("body")
    if raw_body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(raw_body)
    else:
        data = raw_body.encode() if isinstance(raw_body, str) else json.dumps(raw_body).encode()
    resp = web.Response(status=status, body=data)
    headers = result.get("headers") or {}
    for name, value in headers.items():
        resp.headers[str(name)] = value if isinstance(value, str) else json.dumps(value)
    if not any(str(h).lower() == "content-type" for h in headers):
        resp.headers["Content-Type"] = "application/json"
    for cookie in result.get("cookies") or []:
        resp.headers.add("Set-Cookie", str(cookie))
    return resp


# ---------------------------------------------------------------------------------------------- handler
class HttpApi:
    def __init__(self, *, invoke: Invoke, routes: list[HttpRoute], api_id: str, account_id: str,
                 authorizer: JwtAuthorizer, throttle: tuple[float, int] | None) -> None:
        self._invoke, self._table, self._authorizer = invoke, RouteTable(routes), authorizer
        self._api_id, self._account_id, self._throttle = api_id, account_id, throttle
        self._buckets: dict[str, TokenBucket] = {}
        self._background: set[asyncio.Task] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = new_request_id()
        resp = await self._handle(request, request_id)
        resp.headers["apigw-requestid"] = request_id
        return resp

    async def _handle(self, request: web.Request, request_id: str) -> web.StreamResponse:
        found = self._table.match(request.method, request.path)
        if found is None:
            return json_response(404, {"message": "Not Found"})
        route, params = found
        key = route_key(route)
        if self._throttle is not None:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(*self._throttle)
            if not bucket.take():
                return json_response(429, {"message": "Too Many Requests"})
        claims = None
        if route.authorized:
            try:
                claims = await self._authorizer.authorize(request.headers.get("Authorization"))
            except Unauthorized as exc:
                return unauthorized_response(exc)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return json_response(413, {"message": "Request Entity Too Large"})
        event = build_http_event(request, body, route, params, api_id=self._api_id,
                                 account_id=self._account_id, request_id=request_id, claims=claims)
        task = asyncio.ensure_future(self._invoke(route.function, event))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        try:
            result = await asyncio.wait_for(asyncio.shield(task), INTEGRATION_TIMEOUT)
        except TimeoutError:
            log.error("%s: %s timed out after %ss", key, route.function, INTEGRATION_TIMEOUT)
            return json_response(503, {"message": "Service Unavailable"})
        except Exception:
            log.exception("%s: function %s failed", key, route.function)
            return json_response(500, {"message": "Internal Server Error"})
        try:
            return to_http_response(result)
        except Exception:
            log.exception("%s: function %s returned a malformed response", key, route.function)
            return json_response(500, {"message": "Internal Server Error"})
