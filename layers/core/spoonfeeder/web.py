"""HTTP glue shared by API routes: the response envelope, error rendering, and who is calling."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

from spoonfeeder import ids
from spoonfeeder.errors import SpoonError, Unauthorized


def _request_id(router: BaseRouter) -> str | None:
    return router.current_event.request_context.request_id  # type: ignore[no-any-return]


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)


def ok(
    router: BaseRouter, data: Any, *, status: int = 200, pagination: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None, cookies: list[str] | None = None,
) -> Response[str]:
    body: dict[str, Any] = {"success": True, "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    body.update(requestId=_request_id(router), timestamp=ids.now_iso())
    return Response(status_code=status, content_type="application/json", body=_json(body),
                    headers=headers, cookies=cookies)  # type: ignore[arg-type]


def fail(
    router: BaseRouter, status: int, code: str, message: str, details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    body = {"success": False, "error": error, "requestId": _request_id(router), "timestamp": ids.now_iso()}
    return Response(status_code=status, content_type="application/json", body=_json(body), headers=headers)


def from_error(router: BaseRouter, exc: SpoonError) -> Response[str]:
    return fail(router, exc.status, exc.code, exc.message, exc.details, headers=exc.headers or None)


def not_found(router: BaseRouter) -> Response[str]:
    return fail(router, HTTPStatus.NOT_FOUND, "NOT_FOUND", "no such route")


def documented(model: type, description: str, *errors: int, status: int = 200) -> dict[int, dict[str, Any]]:
    """OpenAPI `responses` for a route: its success model and the error envelope for each error status."""
    from spoonfeeder.models.envelope import ErrorEnvelope

    success = {"description": description, "content": {"application/json": {"model": model}}}
    error = {"description": "The error envelope", "content": {"application/json": {"model": ErrorEnvelope}}}
    return {status: success, **{code: error for code in (*errors, 401, 429)}}


def caller_or_none(router: BaseRouter) -> str | None:
    """The authenticated user's id (the JWT `sub` the gateway's authorizer verified), on authorized routes."""
    try:
        sub = (router.current_event.request_context.authorizer.jwt_claim or {}).get("sub")
    except AttributeError:
        return None
    return str(sub) if sub else None


def caller(router: BaseRouter) -> str:
    sub = caller_or_none(router)
    if sub is None:
        raise Unauthorized("sign in first")
    return sub


def claims(router: BaseRouter) -> dict[str, Any]:
    caller(router)
    return dict(router.current_event.request_context.authorizer.jwt_claim)
