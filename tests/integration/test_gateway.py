"""The local API Gateway must look like API Gateway to handlers, HTTP clients, WebSocket clients and boto3."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.server import ThreadedMotoServer
from moto.utilities.utils import load_resource
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

_LOCAL = str(Path(__file__).resolve().parents[2] / "infra" / "local")
if _LOCAL not in sys.path:
    sys.path.insert(0, _LOCAL)

from localcloud.gateway import Gateway, HttpRoute  # noqa: E402

REGION = "us-east-1"
CREDS = {"region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ROUTES = [
    HttpRoute("ANY", "/api/{proxy+}", "ApiFunction", True),
    HttpRoute("POST", "/api/auth/login", "ApiFunction", False),
    HttpRoute("GET", "/api/health", "ApiFunction", False),
    HttpRoute("GET", "/api/tasks/{id}", "TaskFunction", True),
    HttpRoute("GET", "/api/boom", "BoomFunction", False),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cognito() -> Iterator[dict[str, str]]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    idp = boto3.client("cognito-idp", endpoint_url=url, **CREDS)
    pool = idp.create_user_pool(PoolName="gateway-test")["UserPool"]["Id"]
    clients = [idp.create_user_pool_client(UserPoolId=pool, ClientName=name,
                                           ExplicitAuthFlows=["USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
               for name in ("web", "other")]
    idp.admin_create_user(UserPoolId=pool, Username="alice", TemporaryPassword="Temp-Passw0rd!")
    idp.admin_set_user_password(UserPoolId=pool, Username="alice", Password="Passw0rd!x", Permanent=True)

    def tokens(client_id: str) -> dict[str, str]:
        return idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": "alice", "PASSWORD": "Passw0rd!x"})[
            "AuthenticationResult"]

    web, other = tokens(clients[0]), tokens(clients[1])
    yield {"url": url, "pool": pool, "client": clients[0], "id": web["IdToken"],
           "access": web["AccessToken"], "other_id": other["IdToken"],
           "issuer": f"https://cognito-idp.{REGION}.amazonaws.com/{pool}"}
    server.stop()


class Harness:
    """A gateway on its own event loop in a background thread, with a fake ``invoke`` that records."""

    def __init__(self, cognito: dict[str, str], **overrides: Any) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.responses: dict[str, Callable[[dict], Any]] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        kwargs: dict[str, Any] = dict(
            host="127.0.0.1", port=0, invoke=self._invoke, http_routes=ROUTES, http_api_id="httpapi1",
            ws_api_id="wsapi1", ws_stage="dev", ws_function="WsFunction", jwt_issuer=cognito["issuer"],
            jwt_audience=[cognito["client"]],
            jwks_url=f"{cognito['url']}/{cognito['pool']}/.well-known/jwks.json")
        kwargs.update(overrides)
        self.gateway = Gateway(**kwargs)
        self.run(self.gateway.start())
        self.port = self.gateway.port

    async def _invoke(self, function: str, event: dict) -> Any:
        self.calls.append((function, event))
        handler = self.responses.get(function)
        if handler is None:
            return {"statusCode": 200, "body": json.dumps({"ok": True}),
                    "headers": {"content-type": "application/json"}}
        result = handler(event)
        return await result if asyncio.iscoroutine(result) else result

    def run(self, coro: Any, timeout: float = 5.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.gateway.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(2)
        self.loop.close()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.msg, resp.read()
        finally:
            conn.close()

    def events(self, function: str) -> list[dict]:
        return [e for f, e in self.calls if f == function]

    def ws_events(self, route_key: str) -> list[dict]:
        return [e for e in self.events("WsFunction") if e["requestContext"]["routeKey"] == route_key]

    def management(self) -> Any:
        return boto3.client("apigatewaymanagementapi", endpoint_url=self.gateway.management_url, **CREDS)


@pytest.fixture(scope="module")
def harness(cognito: dict[str, str]) -> Iterator[Harness]:
    h = Harness(cognito)
    yield h
    h.close()


@pytest.fixture
def gw(harness: Harness) -> Harness:
    harness.calls.clear()
    harness.responses.clear()
    return harness


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------------------------------- HTTP API
def test_proxy_route_event_is_payload_2_0(gw: Harness, cognito: dict[str, str]) -> None:
    status, headers, body = gw.request(
        "POST", "/api/tasks/search?tag=a&tag=b&q=hello%20world",
        body=b'{"x": 1}',
        headers={**_bearer(cognito["id"]), "Content-Type": "application/json",
                 "Cookie": "sid=abc; theme=dark", "X-Custom": "1", "User-Agent": "pytest-ua"})
    assert status == 200 and json.loads(body) == {"ok": True}
    assert headers["apigw-requestid"].endswith("=")
    [(function, event)] = gw.calls
    assert function == "ApiFunction"
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /api/{proxy+}"
    assert event["rawPath"] == "/api/tasks/search"
    assert event["rawQueryString"] == "tag=a&tag=b&q=hello%20world"
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "hello world"}
    assert event["pathParameters"] == {"proxy": "tasks/search"}
    assert event["cookies"] == ["sid=abc", "theme=dark"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-custom"] == "1"
    assert event["headers"]["content-type"] == "application/json"
    assert all(name == name.lower() for name in event["headers"])
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    claims = ctx["authorizer"]["jwt"]["claims"]
    assert claims["sub"] and claims["aud"] == cognito["client"] and claims["iss"] == cognito["issuer"]
    assert all(isinstance(v, str) for v in claims.values())
    assert ctx["authorizer"]["jwt"]["scopes"] is None
    assert ctx["requestId"] == headers["apigw-requestid"]
    assert ctx["routeKey"] == "ANY /api/{proxy+}" and ctx["stage"] == "$default"
    assert ctx["apiId"] == "httpapi1" and ctx["accountId"] == "123456789012"
    assert ctx["domainName"] == f"127.0.0.1:{gw.port}"
    assert ctx["http"] == {"method": "POST", "path": "/api/tasks/search", "protocol": "HTTP/1.1",
                           "sourceIp": "127.0.0.1", "userAgent": "pytest-ua"}
    assert abs(ctx["timeEpoch"] - time.time() * 1000) < 5000
    time.strptime(ctx["time"], "%d/%b/%Y:%H:%M:%S +0000")


def test_route_priority_and_path_parameters(gw: Harness, cognito: dict[str, str]) -> None:
    gw.request("GET", "/api/tasks/t-42", headers=_bearer(cognito["access"]))  # access token: client_id
    gw.request("DELETE", "/api/tasks/t-42", headers=_bearer(cognito["id"]))   # method mismatch -> proxy
    gw.request("GET", "/api/health")                                          # exact, public
    gw.request("POST", "/api/health", headers=_bearer(cognito["id"]))        # GET only -> proxy
    keys = [(f, e["routeKey"], e.get("pathParameters")) for f, e in gw.calls]
    assert keys == [
        ("TaskFunction", "GET /api/tasks/{id}", {"id": "t-42"}),
        ("ApiFunction", "ANY /api/{proxy+}", {"proxy": "tasks/t-42"}),
        ("ApiFunction", "GET /api/health", None),
        ("ApiFunction", "ANY /api/{proxy+}", {"proxy": "health"}),
    ]
    health = gw.calls[2][1]
    assert "authorizer" not in health["requestContext"] and "queryStringParameters" not in health
    assert "cookies" not in health and "body" not in health and health["isBase64Encoded"] is False
    assert gw.calls[0][1]["requestContext"]["authorizer"]["jwt"]["claims"]["client_id"] == cognito["client"]


def test_no_route_is_404(gw: Harness) -> None:
    for path in ("/nothing", "/api"):
        status, _, body = gw.request("GET", path)
        assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    assert gw.calls == []


def _expired_token(cognito: dict[str, str]) -> str:
    claims = jwt.decode(cognito["id"], options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 7200, auth_time=now - 7200, exp=now - 3600)
    key = jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json"), algorithm="RS256").key
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


def _foreign_token(cognito: dict[str, str]) -> str:
    claims = jwt.decode(cognito["id"], options={"verify_signature": False})
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})


@pytest.mark.parametrize("case", ["missing", "garbage", "foreign-signature", "expired", "wrong-audience"])
def test_authorizer_rejects(gw: Harness, cognito: dict[str, str], case: str) -> None:
    headers = {
        "missing": {},
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "foreign-signature": _bearer(_foreign_token(cognito)),
        "expired": _bearer(_expired_token(cognito)),
        "wrong-audience": _bearer(cognito["other_id"]),
    }[case]
    status, resp_headers, body = gw.request("GET", "/api/tasks", headers=headers)
    assert (status, body) == (401, b'{"message":"Unauthorized"}')  # API Gateway's body, not the envelope
    assert resp_headers["content-type"].startswith("application/json")
    assert resp_headers["www-authenticate"].startswith("Bearer")
    if case == "expired":
        assert "expired" in resp_headers["www-authenticate"]
    assert gw.calls == []


def test_raw_token_without_bearer_prefix_is_accepted(gw: Harness, cognito: dict[str, str]) -> None:
    status, _, _ = gw.request("GET", "/api/tasks", headers={"Authorization": cognito["id"]})
    assert status == 200 and len(gw.calls) == 1


def test_public_route_needs_no_token(gw: Harness) -> None:
    status, _, _ = gw.request("POST", "/api/auth/login", body=b"\x00\x01binary",
                                 headers={"Content-Type": "application/octet-stream"})
    assert status == 200
    [(_, event)] = gw.calls
    assert event["routeKey"] == "POST /api/auth/login"
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\x01binary"


def test_response_cookies_headers_and_base64(gw: Harness) -> None:
    gw.responses["ApiFunction"] = lambda event: {
        "statusCode": 201, "headers": {"x-thing": "yes", "content-type": "image/png"},
        "cookies": ["sid=1; HttpOnly; Secure; SameSite=Strict", "theme=dark"],
        "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True}
    status, headers, body = gw.request("GET", "/api/health")
    assert status == 201 and body == b"\x89PNG"
    assert headers["x-thing"] == "yes" and headers["content-type"] == "image/png"
    assert headers.get_all("set-cookie") == ["sid=1; HttpOnly; Secure; SameSite=Strict", "theme=dark"]


def test_return_value_without_status_code_becomes_json(gw: Harness) -> None:
    gw.responses["ApiFunction"] = lambda event: {"hello": "world"}
    status, headers, body = gw.request("GET", "/api/health")
    assert (status, json.loads(body)) == (200, {"hello": "world"})
    assert headers["content-type"].startswith("application/json")
    gw.responses["ApiFunction"] = lambda event: "just text"
    assert json.loads(gw.request("GET", "/api/health")[2]) == "just text"


def test_function_error_is_500(gw: Harness) -> None:
    def boom(event: dict) -> None:
        raise RuntimeError("handler crashed")

    gw.responses["BoomFunction"] = boom
    status, headers, body = gw.request("GET", "/api/boom")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert headers["apigw-requestid"]


def test_throttling_is_per_route(cognito: dict[str, str]) -> None:
    h = Harness(cognito, throttle=(0.5, 2))
    try:
        statuses = [h.request("GET", "/api/health")[0] for _ in range(4)]
        assert statuses == [200, 200, 429, 429]
        _, _, body = h.request("GET", "/api/health")
        assert json.loads(body) == {"message": "Too Many Requests"}
        assert h.request("POST", "/api/auth/login")[0] == 200  # another route key, another bucket
        assert len(h.events("ApiFunction")) == 3
    finally:
        h.close()


# -------------------------------------------------------------------------------------- WebSocket API
def _ws_handler(event: dict) -> Any:
    ctx = event["requestContext"]
    if ctx["routeKey"] == "$connect":
        token = (event.get("queryStringParameters") or {}).get("token")
        return {"statusCode": 200} if token == "good" else {"statusCode": 401, "body": "Unauthorized"}
    return {"statusCode": 200}


def test_connect_refused_with_401(gw: Harness) -> None:
    gw.responses["WsFunction"] = _ws_handler
    with pytest.raises(InvalidStatus) as info:
        connect(f"{gw.gateway.ws_url}?token=bad", open_timeout=3)
    assert info.value.response.status_code == 401
    [event] = gw.ws_events("$connect")
    assert event["queryStringParameters"] == {"token": "bad"}
    assert gw.ws_events("$disconnect") == []


def test_websocket_round_trip_and_management_api(gw: Harness) -> None:
    gw.responses["WsFunction"] = _ws_handler
    api = gw.management()
    with connect(f"{gw.gateway.ws_url}?token=good", open_timeout=3, user_agent_header="ws-test") as ws:
        [connect_event] = gw.ws_events("$connect")
        ctx = connect_event["requestContext"]
        conn_id = ctx["connectionId"]
        assert len(conn_id) == 16 and conn_id.endswith("=")
        assert ctx["eventType"] == "CONNECT" and ctx["stage"] == "dev" and ctx["apiId"] == "wsapi1"
        assert ctx["messageDirection"] == "IN" and ctx["identity"]["sourceIp"] == "127.0.0.1"
        assert ctx["identity"]["userAgent"] == "ws-test"
        assert connect_event["multiValueQueryStringParameters"] == {"token": ["good"]}
        assert connect_event["isBase64Encoded"] is False
        assert {k.lower() for k in connect_event["headers"]} >= {"host", "sec-websocket-key", "user-agent"}

        ws.send(json.dumps({"action": "subscribe", "topic": "task:1"}))
        [message] = _wait(lambda: gw.ws_events("$default"))
        mctx = message["requestContext"]
        assert mctx["eventType"] == "MESSAGE" and mctx["connectionId"] == conn_id and mctx["messageId"]
        assert json.loads(message["body"]) == {"action": "subscribe", "topic": "task:1"}
        assert message["isBase64Encoded"] is False

        for i in range(20):
            api.post_to_connection(ConnectionId=conn_id, Data=json.dumps({"n": i}).encode())
        assert [json.loads(ws.recv(timeout=3))["n"] for _ in range(20)] == list(range(20))

        info = api.get_connection(ConnectionId=conn_id)
        assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "ws-test"}
        assert info["ConnectedAt"] <= info["LastActiveAt"]

    [disconnect] = _wait(lambda: gw.ws_events("$disconnect"))
    dctx = disconnect["requestContext"]
    assert dctx["eventType"] == "DISCONNECT" and dctx["connectionId"] == conn_id
    assert dctx["disconnectStatusCode"] == 1000 and isinstance(dctx["disconnectReason"], str)
    with pytest.raises(ClientError) as info:
        api.post_to_connection(ConnectionId=conn_id, Data=b"late")
    assert info.value.response["Error"]["Code"] == "GoneException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    with pytest.raises(api.exceptions.GoneException):
        api.get_connection(ConnectionId="Unknown0000000A=")


def test_messages_of_one_connection_are_invoked_in_order(gw: Harness) -> None:
    seen: list[str] = []

    async def slow(event: dict) -> Any:
        if event["requestContext"]["routeKey"] == "$default":
            await asyncio.sleep(0.03 if int(event["body"]) % 2 == 0 else 0)
            seen.append(event["body"])
        return {"statusCode": 200}

    gw.responses["WsFunction"] = slow
    with connect(gw.gateway.ws_url, open_timeout=3) as ws:
        for i in range(8):
            ws.send(str(i))
        _wait(lambda: len(seen) == 8)
    assert seen == [str(i) for i in range(8)]
    _wait(lambda: gw.ws_events("$disconnect"))


def test_delete_connection_closes_socket(gw: Harness) -> None:
    api = gw.management()
    with connect(gw.gateway.ws_url, open_timeout=3) as ws:
        conn_id = gw.ws_events("$connect")[0]["requestContext"]["connectionId"]
        api.delete_connection(ConnectionId=conn_id)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=3)
    [event] = _wait(lambda: gw.ws_events("$disconnect"))
    assert event["requestContext"]["connectionId"] == conn_id
    with pytest.raises(api.exceptions.GoneException):
        api.post_to_connection(ConnectionId=conn_id, Data=b"x")


def test_stop_closes_sockets_quickly(cognito: dict[str, str]) -> None:
    h = Harness(cognito)
    try:
        with connect(h.gateway.ws_url, open_timeout=3) as ws:
            started = time.monotonic()
            h.run(h.gateway.stop())
            assert time.monotonic() - started < 1.5
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=2)
        [event] = h.ws_events("$disconnect")
        assert event["requestContext"]["disconnectStatusCode"] == 1001
    finally:
        h.close()
