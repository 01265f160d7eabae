"""The local API Gateway: one aiohttp server on one port.

- ``/api/...`` (any path but the two below): the HTTP API, payload format 2.0, JWT authorizer, throttling;
- ``/ws``: the WebSocket API (``$connect``, ``$default``, ``$disconnect``);
- ``/_ws/{stage}/@connections/{connectionId}``: the management API that boto3's
  ``apigatewaymanagementapi`` client talks to with ``endpoint_url="http://host:port/_ws/{stage}"``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from .gateway_http import MAX_HTTP_PAYLOAD, HttpApi, HttpRoute, JwtAuthorizer
from .gateway_ws import WebSocketApi

__all__ = ["Gateway", "HttpRoute"]

log = logging.getLogger("localcloud.gateway")


class Gateway:
    def __init__(self, *, host: str, port: int,
                 invoke: Callable[[str, dict], Awaitable[dict]],
                 http_routes: list[HttpRoute], http_api_id: str,
                 ws_api_id: str, ws_stage: str, ws_function: str,
                 jwt_issuer: str, jwt_audience: list[str], jwks_url: str,
                 throttle: tuple[float, int] | None = None,
                 region: str = "us-east-1", account_id: str = "123456789012") -> None:
        self.host, self.port, self.region, self.account_id = host, port, region, account_id
        self.ws_stage = ws_stage
        authorizer = JwtAuthorizer(jwt_issuer, jwt_audience, jwks_url)
        self._http = HttpApi(invoke=invoke, routes=list(http_routes), api_id=http_api_id,
                             account_id=account_id, authorizer=authorizer, throttle=throttle)
        self._ws = WebSocketApi(invoke=invoke, api_id=ws_api_id, stage=ws_stage, function=ws_function)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL of the HTTP API (``http://host:port``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The URL WebSocket clients connect to."""
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def management_url(self) -> str:
        """``endpoint_url`` for boto3's ``apigatewaymanagementapi`` client."""
        return f"http://{self.host}:{self.port}/_ws/{self.ws_stage}"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_HTTP_PAYLOAD)
        app.router.add_route("*", "/_ws/{stage}/@connections/{connection_id}", self._ws.manage)
        app.router.add_route("GET", "/ws", self._ws.handle)
        # [\s\S], not ".": a path with an encoded CR or LF (%0D, %0A) must reach the HTTP API too.
        app.router.add_route("*", "/{tail:[\\s\\S]*}", self._http.handle)
        return app

    async def start(self) -> None:
        """Starts listening; with ``port=0`` a free port is chosen and stored in ``self.port``."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False, shutdown_timeout=0.25)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        if self.port == 0 and runner.addresses:
            self.port = runner.addresses[0][1]
        log.info("gateway listening on %s (WebSocket %s)", self.url, self.ws_url)

    async def stop(self) -> None:
        """Closes every WebSocket (each gets its ``$disconnect``), then the server, within about a second."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self._ws.close_all(timeout=0.6)
        await runner.cleanup()
