"""Per-user request quota for every authenticated route (the gateway throttles the API as a whole)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from spoonfeeder import ids, web

from routers.deps import request_quota


def enforce_quota(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    user = web.caller_or_none(app)
    if user is None:
        return next_middleware(app)
    usage = request_quota().take(user)
    if usage.exceeded:
        wait = usage.retry_after(int(ids.now().timestamp()))
        return web.fail(app, 429, "RATE_LIMITED", f"more than {usage.quota.limit} requests a minute; slow down",
                        {"retryAfter": wait}, headers={**usage.headers(), "Retry-After": str(wait)})
    response = next_middleware(app)
    response.headers.update(usage.headers())
    return response
