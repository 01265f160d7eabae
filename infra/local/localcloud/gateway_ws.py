"""The WebSocket API half of the local API Gateway: ``$connect``/``$default``/``$disconnect`` events
and the ``@connections`` management API, the way API Gateway WebSocket APIs behave."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from .gateway_http import Invoke, clf_time, new_request_id

log = logging.getLogger("localcloud.gateway")

#: API Gateway's WebSocket limits: message size (frames are reassembled) and @connections payload.
MAX_WS_MESSAGE = 128 * 1024
MAX_POST_DATA = 128 * 1024


@dataclass(eq=False)
class Connection:
    id: str
    ws: web.WebSocketResponse
    connected_at: float
    source_ip: str
    user_agent: str
    domain: str
    last_active: float
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    server_close: tuple[int, str] | None = None  # (code, reason) when the gateway closed it


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _gone() -> web.Response:
    return web.Response(status=410, body=b'{"message":null}', content_type="application/json",
                        headers={"x-amzn-ErrorType": "GoneException"})


def _error(status: int, error_type: str, message: str | None) -> web.Response:
    return web.Response(status=status, body=json.dumps({"message": message}).encode(),
                        content_type="application/json", headers={"x-amzn-ErrorType": error_type})


class WebSocketApi:
    def __init__(self, *, invoke: Invoke, api_id: str, stage: str, function: str) -> None:
        self._invoke, self._api_id, self._stage, self._function = invoke, api_id, stage, function
        self._conns: dict[str, Connection] = {}
        self._workers: set[asyncio.Task] = set()
        self._closers: set[asyncio.Task] = set()
        self._stopping = False

    # ------------------------------------------------------------------------------------------ events
    def _context(self, route_key: str, event_type: str, conn_id: str, connected_at: float,
                 source_ip: str, user_agent: str, domain: str) -> dict[str, Any]:
        now = time.time()
        request_id = new_request_id()
        ctx: dict[str, Any] = {"routeKey": route_key}
        if event_type == "MESSAGE":
            ctx["messageId"] = new_request_id()
        ctx.update({
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": clf_time(now),
            "messageDirection": "IN",
            "stage": self._stage,
            "connectedAt": int(connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"userAgent": user_agent, "sourceIp": source_ip},
            "requestId": request_id,
            "domainName": domain,
            "connectionId": conn_id,
            "apiId": self._api_id,
        })
        return ctx

    def _message_event(self, conn: Connection, body: str, binary: bool) -> dict[str, Any]:
        ctx = self._context("$default", "MESSAGE", conn.id, conn.connected_at, conn.source_ip,
                            conn.user_agent, conn.domain)
        return {"requestContext": ctx, "body": body, "isBase64Encoded": binary}

    def _disconnect_event(self, conn: Connection, code: int, reason: str) -> dict[str, Any]:
        ctx = self._context("$disconnect", "DISCONNECT", conn.id, conn.connected_at, conn.source_ip,
                            conn.user_agent, conn.domain)
        ctx = {"routeKey": "$disconnect", "disconnectStatusCode": code, **ctx, "disconnectReason": reason}
        headers = {"Host": conn.domain, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
        return {"headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
                "requestContext": ctx, "isBase64Encoded": False}

    # ----------------------------------------------------------------------------------- the socket
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(timeout=1.0, autoping=True, max_msg_size=MAX_WS_MESSAGE, compress=False)
        if not ws.can_prepare(request).ok:
            return web.Response(status=426, body=b'{"message":"Upgrade Required"}',
                                content_type="application/json")
        if self._stopping:
            return web.Response(status=503, body=b'{"message":"Service Unavailable"}',
                                content_type="application/json")
        conn_id = new_request_id()
        while conn_id in self._conns:
            conn_id = new_request_id()
        connected_at = time.time()
        source_ip = request.remote or "127.0.0.1"
        user_agent = request.headers.get("User-Agent", "")
        domain = request.headers.get("Host", request.host)
        headers: CIMultiDict[str] = CIMultiDict(request.headers)
        headers.setdefault("X-Amzn-Trace-Id", f"Root=1-{int(connected_at):08x}-{new_request_id()[:15]}")
        headers.setdefault("X-Forwarded-For", source_ip)
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        headers.setdefault("X-Forwarded-Port", str(sockname[1]) if sockname else "80")
        headers.setdefault("X-Forwarded-Proto", "wss" if request.secure else "ws")
        event: dict[str, Any] = {"headers": {}, "multiValueHeaders": {}}
        for name, value in headers.items():
            event["headers"][name] = value
            event["multiValueHeaders"].setdefault(name, []).append(value)
        if request.query:
            event["queryStringParameters"] = {k: v for k, v in request.query.items()}
            multi: dict[str, list[str]] = {}
            for k, v in request.query.items():
                multi.setdefault(k, []).append(v)
            event["multiValueQueryStringParameters"] = multi
        event["requestContext"] = self._context("$connect", "CONNECT", conn_id, connected_at, source_ip,
                                                user_agent, domain)
        event["isBase64Encoded"] = False
        try:
            result = await self._invoke(self._function, event)
        except Exception:
            log.exception("$connect: function %s failed", self._function)
            return web.Response(status=500, body=b'{"message":"Internal server error"}',
                                content_type="application/json")
        status = 200
        if isinstance(result, dict) and result.get("statusCode") is not None:
            try:
                status = int(result["statusCode"])
            except (TypeError, ValueError):
                status = 500
        if not 200 <= status < 300:
            body = result.get("body") if isinstance(result, dict) else None
            return web.Response(status=status, text=body if isinstance(body, str) else None)
        if isinstance(result, dict) and isinstance(result.get("headers"), dict):
            for name, value in result["headers"].items():
                if str(name).lower() == "sec-websocket-protocol":
                    ws = web.WebSocketResponse(timeout=1.0, autoping=True, max_msg_size=MAX_WS_MESSAGE,
                                               compress=False, protocols=(str(value),))
        await ws.prepare(request)
        conn = Connection(conn_id, ws, connected_at, source_ip, user_agent, domain, time.time())
        self._conns[conn_id] = conn
        queue: asyncio.Queue = asyncio.Queue()
        worker = asyncio.create_task(self._pump(conn, queue))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)
        if self._stopping:
            self._close_soon(conn, 1001, "Going away")
        code, reason = 1006, "Connection closed abnormally"
        try:
            while True:
                msg = await ws.receive()
                if msg.type == WSMsgType.TEXT:
                    conn.last_active = time.time()
                    queue.put_nowait((msg.data, False))
                elif msg.type == WSMsgType.BINARY:
                    conn.last_active = time.time()
                    queue.put_nowait((base64.b64encode(msg.data).decode("ascii"), True))
                elif msg.type == WSMsgType.CLOSE:
                    code = int(msg.data) if msg.data else 1005
                    reason = f"Client-side close frame status code '{code}' and reason '{msg.extra or ''}'"
                    break
                elif msg.type == WSMsgType.ERROR:
                    code = ws.close_code or 1011
                    reason = f"Protocol error: {msg.data}"
                    break
                else:  # CLOSING (closed by the gateway) or CLOSED
                    break
        finally:
            self._conns.pop(conn_id, None)
            if conn.server_close is not None:
                code, reason = conn.server_close
            queue.put_nowait((code, reason))
            if not ws.closed:
                await ws.close(code=1000 if conn.server_close is None else conn.server_close[0])
            await asyncio.shield(worker)
        return ws

    async def _pump(self, conn: Connection, queue: asyncio.Queue) -> None:
        """Invokes the function for one connection's messages, one at a time, in arrival order."""
        while True:
            a, b = await queue.get()
            if isinstance(a, int):
                try:
                    await self._invoke(self._function, self._disconnect_event(conn, a, b))
                except Exception:
                    log.exception("$disconnect: function %s failed", self._function)
                return
            try:
                await self._invoke(self._function, self._message_event(conn, a, b))
            except Exception:
                log.exception("$default: function %s failed", self._function)
                if conn.id in self._conns and not conn.ws.closed:  # what API Gateway tells the client
                    error = {"message": "Internal server error", "connectionId": conn.id,
                             "requestId": new_request_id()}
                    try:
                        async with conn.send_lock:
                            await conn.ws.send_str(json.dumps(error))
                    except (ConnectionError, RuntimeError):
                        pass

    def _close_soon(self, conn: Connection, code: int, reason: str) -> None:
        self._conns.pop(conn.id, None)
        if conn.server_close is None:
            conn.server_close = (code, reason)
        task = asyncio.create_task(conn.ws.close(code=code))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def close_all(self, timeout: float) -> None:
        """Closes every socket (1001 Going away), waits up to ``timeout`` for their ``$disconnect``."""
        self._stopping = True
        for conn in list(self._conns.values()):
            self._close_soon(conn, 1001, "Going away")
        pending = self._workers | self._closers
        if pending:
            _, still = await asyncio.wait(pending, timeout=timeout)
            for task in still:
                task.cancel()

    # -------------------------------------------------------------------------------- @connections
    async def manage(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["stage"] != self._stage:
            return _error(403, "ForbiddenException", "Forbidden")
        conn = self._conns.get(request.match_info["connection_id"])
        if conn is None:
            return _gone()
        if request.method == "POST":
            async with conn.send_lock:  # taken before the body is read: frames go out in arrival order
                data = await request.read()
                if len(data) > MAX_POST_DATA:
                    return _error(413, "PayloadTooLargeException", "Message too long")
                if conn.id not in self._conns or conn.ws.closed:
                    return _gone()
                try:
                    try:
                        await conn.ws.send_str(data.decode("utf-8"))
                    except UnicodeDecodeError:
                        await conn.ws.send_bytes(data)
                except (ConnectionError, RuntimeError):
                    return _gone()
            conn.last_active = time.time()
            return web.Response(status=200)
        if request.method == "GET":
            info = {"connectedAt": _iso(conn.connected_at),
                    "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
                    "lastActiveAt": _iso(conn.last_active)}
            return web.Response(status=200, body=json.dumps(info).encode(), content_type="application/json")
        if request.method == "DELETE":
            self._close_soon(conn, 1000, "Connection deleted by the @connections API")
            return web.Response(status=204)
        return _error(404, "NotFoundException", "Not Found")
