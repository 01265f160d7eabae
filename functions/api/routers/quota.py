"""Per-user request quota for every authenticated route (the gateway throttles the API as a whole).

Most requests are counted by an UpdateItem before the route runs. A create is counted inside its own
transaction instead (`TICKETED`: one transaction and one send, DESIGN §4): the route gets a ticket from
the context and the answer's headers come from the count it made (exact without a read: ratelimit.Ticket);
if the route failed before its transaction (bad input), the request is counted afterwards the usual way.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from spoonfeeder import web
from spoonfeeder.ratelimit import Ticket, Usage, over_quota

from routers.deps import request_quota

TICKETED = frozenset({("POST", "/api/tasks")})
_TICKET = "quota_ticket"


def ticket(router: BaseRouter) -> Ticket | None:
    """The quota ticket of this request, for a route in TICKETED."""
    return router.context.get(_TICKET)


def _answer_with(app: APIGatewayHttpResolver, usage: Usage | None) -> None:
    if usage is not None:  # error envelopes rendered later by the exception handlers carry them too
        app.append_context(**{web.ANSWER_HEADERS: usage.headers()})


def enforce_quota(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    user = web.caller_or_none(app)
    if user is None:
        return next_middleware(app)
    event = app.current_event
    if (event.http_method, event.path.rstrip("/")) not in TICKETED:
        usage = request_quota().take(user)
        _answer_with(app, usage)
        if usage.exceeded:
            return web.from_error(app, over_quota(usage))
        response = next_middleware(app)
        response.headers.update(usage.headers())
        return response
    issued = request_quota().ticket(user)
    app.append_context(**{_TICKET: issued})
    try:
        response = next_middleware(app)
    finally:  # a request its transaction did not count (bad input) is counted the usual way
        _answer_with(app, issued.usage or issued.take())
    headers = app.context.get(web.ANSWER_HEADERS)
    if headers:
        response.headers.update(headers)
    return response
