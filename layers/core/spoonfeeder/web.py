"""HTTP glue shared by API routes: the resolver, strict request bodies, the response envelope, error
rendering, the documented contract of each route, and who is calling."""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import math
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.types import EventHandlerInstance

from spoonfeeder import ids
from spoonfeeder.errors import Forbidden, PayloadTooLarge, SpoonError, Unauthorized, ValidationFailed
from spoonfeeder.models.envelope import ErrorEnvelope, GatewayMessage

if TYPE_CHECKING:  # Powertools' OpenAPI models take longer to import than the rest of the API: only for the document
    from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

#: Whole request bodies above this are refused before parsing (the largest valid task body is far smaller).
MAX_BODY_BYTES = 1024 * 1024
#: Deeper JSON is refused: no valid body nests past a few levels, and deep nesting costs stack.
MAX_JSON_DEPTH = 32
#: DynamoDB numbers hold 38 significant digits within 1e-130 .. 9.99e125; anything else cannot be stored.
_MAX_INT_DIGITS = 38
_MIN_FLOAT, _MAX_FLOAT = 1e-130, 9.99e125

BEARER = "bearerAuth"
# OpenAPI's HTTPBearer, as plain data (the models are validated when the document is built).
SECURITY_SCHEMES: dict[str, Any] = {BEARER: {
    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    "description": "A Cognito access or ID token (POST /api/auth/login). Checked by API Gateway's JWT authorizer, "
                   "which answers 401 {\"message\": \"Unauthorized\"} itself."}}


class UnsupportedMediaType(SpoonError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


# ------------------------------------------------------------------------------------------ request bodies
def _bad_number(text: str) -> ValidationFailed:
    return ValidationFailed(f"the number {text[:40]} cannot be stored; numbers keep at most "
                            f"{_MAX_INT_DIGITS} digits within 1e-130 .. 9.99e125")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:  # checked before int(): huge digit strings cost time
        raise _bad_number(text)
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > 100:
        raise _bad_number(text)
    value = float(text)
    if math.isinf(value) or (value != 0 and not _MIN_FLOAT <= abs(value) <= _MAX_FLOAT):
        raise _bad_number(text)
    return value


def _no_constants(text: str) -> None:
    raise ValidationFailed(f"{text} is not a JSON number")


def _check_tree(value: Any) -> None:
    """Depth and text of a parsed body, walked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationFailed("the body holds a lone surrogate (\\ud800-\\udfff)") from None
            continue
        children = item.items() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_JSON_DEPTH:
            raise ValidationFailed(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
        for child in children:
            if isinstance(child, tuple):
                stack.append((child[0], depth))
                stack.append((child[1], depth + 1))
            else:
                stack.append((child, depth + 1))


def parse_json(raw: bytes) -> Any:
    """A request body as JSON, or a 4xx: UTF-8 only, no NaN/Infinity, numbers DynamoDB can store, sane depth."""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes",
                              details={"maxBytes": MAX_BODY_BYTES, "bytes": len(raw)})
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("the body is not UTF-8", details={"position": exc.start}) from None
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ValidationFailed("the body is not valid JSON", details={"position": exc.pos, "error": exc.msg}) \
            from None
    except RecursionError:
        raise ValidationFailed(f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    _check_tree(value)
    return value


def _media_type(content_type: str) -> tuple[str, dict[str, str]]:
    kind, *params = content_type.split(";")
    parsed = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"').lower()
    return kind.strip().lower(), parsed


class StrictJsonBodies(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, with one body parser for every route that takes a body: only
    `application/json` in UTF-8 (else 415), bodies up to MAX_BODY_BYTES (else 413), and JSON that
    `parse_json` accepts (else 400). Powertools' own parser lets decoding errors, deep nesting and
    unparseable form or multipart bodies escape as 500s."""

    def _get_body(self, app: EventHandlerInstance) -> Any:
        event = app.current_event
        body = event.body
        if not body:
            return None
        if event.is_base64_encoded:
            try:
                raw = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise ValidationFailed("the body is not valid base64") from None
        else:
            raw = body.encode("utf-8", "surrogatepass")
        kind, params = _media_type(event.headers.get("content-type") or "")
        if kind != "application/json" or params.get("charset", "utf-8") != "utf-8":
            raise UnsupportedMediaType("send the body as application/json (UTF-8)",
                                       details={"contentType": event.headers.get("content-type")})
        return parse_json(raw)


#: Path parameters under these names take the rest of the path, '/' included: a model name may hold '/'
#: (Ollama's `library/llama3:8b`, DESIGN §6). Every other parameter is one path segment, as in Powertools.
REST_OF_PATH_PARAMS = frozenset({"model_name"})


class Resolver(APIGatewayHttpResolver):
    """The API's resolver: strict JSON bodies, rest-of-path parameters, routers registered when first needed, and
    an OpenAPI document without Powertools' 422 `HTTPValidationError` (our validation errors are 400 envelopes)."""

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}$") -> re.Pattern[str]:
        rest = [name for name in REST_OF_PATH_PARAMS if f"<{name}>" in rule]
        for name in rest:  # hidden from Powertools' one-segment substitution, then given their own group
            rule = rule.replace(f"<{name}>", f"\0{name}\0")
        pattern = APIGatewayHttpResolver._compile_regex(rule, base_regex).pattern
        for name in rest:
            pattern = pattern.replace(f"\0{name}\0", f"(?P<{name}>.+)")
        return re.compile(pattern)

    def __init__(self) -> None:
        super().__init__(enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR)
        self._request_validation_middleware = StrictJsonBodies()
        self._swagger: dict[str, Any] | None = None
        self._routers: dict[str, str | None] = {}  # prefix -> module of its router, None once included

    # -------------------------------------------------------------------------------------- lazy routers
    def include_lazy_router(self, module: str, *, prefix: str) -> None:
        """Register the `router` of `module` (e.g. "routers.tasks") under `prefix`, importing it only when it is
        first needed: by a request whose path falls under `prefix` (the longest registered prefix it falls
        under, so "/api" serves what no longer prefix claims), by the OpenAPI document, or by `prepare_docs`
        (SnapStart). A cold start thus imports only the routes, models and services of the request it serves.
        A router's routes must not fall under another router's longer prefix."""
        self._routers[prefix.rstrip("/")] = module

    def include_every_router(self) -> None:
        for prefix in list(self._routers):
            self._include(prefix)

    def _include(self, prefix: str) -> None:
        module = self._routers.get(prefix)
        if module is not None:
            self._routers[prefix] = None
            self.include_router(importlib.import_module(module).router, prefix=prefix or None)

    def _include_for(self, path: str) -> None:
        path = path.rstrip("/")
        owners = [prefix for prefix in self._routers if path == prefix or path.startswith(prefix + "/")]
        if owners:
            self._include(max(owners, key=len))

    def enable_swagger(self, **options: Any) -> None:  # type: ignore[override]
        """Powertools' Swagger UI, set up when it is first asked for (or by `prepare_docs`): it needs the OpenAPI
        models, and no other request does."""
        self._swagger = {"path": "/swagger", **options}

    def _set_up_swagger(self) -> None:
        if self._swagger is not None:
            options, self._swagger = self._swagger, None
            super().enable_swagger(**options)

    def prepare_docs(self) -> None:
        """Register every router, set up the Swagger UI and build the OpenAPI document once now (before a
        SnapStart snapshot: a restored function then has all of it ready)."""
        self._set_up_swagger()
        self.get_openapi_json_schema()

    def serve_openapi(self, path: str) -> None:
        """`path` answers the OpenAPI document generated from the routes' typed parameters and answers."""

        @self.get(path, include_in_schema=False)
        def openapi() -> Response[str]:
            return Response(status_code=200, content_type="application/json", body=self.get_openapi_json_schema())

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        path = (event.get("rawPath") or "").rstrip("/")
        if self._swagger is not None and path == self._swagger["path"]:
            self._set_up_swagger()
        self._include_for(path)
        return super().resolve(event, context)

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPI:
        self.include_every_router()  # the document shows every route, not only those requested so far
        schema = super().get_openapi_schema(**kwargs)
        for item in (schema.paths or {}).values():
            for method in ("get", "put", "post", "delete", "patch"):
                operation = getattr(item, method, None)
                if operation is None or not operation.responses:
                    continue
                for status in (422, 500):
                    response = operation.responses.get(status)
                    if response is not None and "ValidationError" in json.dumps(
                            response.model_dump(mode="json", by_alias=True, exclude_none=True)):
                        del operation.responses[status]
        if schema.components and schema.components.schemas:
            for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
                schema.components.schemas.pop(name, None)
        return schema


# ------------------------------------------------------------------------------------------------ answers
def _request_id(router: BaseRouter) -> str | None:
    return router.current_event.request_context.request_id  # type: ignore[no-any-return]


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)


#: Request context key: headers a middleware wants on every answer, including error envelopes.
ANSWER_HEADERS = "answer_headers"


def ok(
    router: BaseRouter, data: Any, *, status: int = 200, pagination: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None, cookies: list[str] | None = None,
) -> Response[Any]:
    """The success envelope; Powertools validates it against the route's return type and serialises it."""
    body: dict[str, Any] = {"success": True, "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    body.update(requestId=_request_id(router), timestamp=ids.now_iso())
    return Response(status_code=status, content_type="application/json", body=body,
                    headers=headers, cookies=cookies)  # type: ignore[arg-type]


def fail(
    router: BaseRouter, status: int, code: str, message: str, details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    body = {"success": False, "error": error, "requestId": _request_id(router), "timestamp": ids.now_iso()}
    # Headers every answer of this request carries (the quota's), errors raised past the middleware included.
    headers = {**router.context.get(ANSWER_HEADERS, {}), **(headers or {})}
    return Response(status_code=status, content_type="application/json", body=_json(body), headers=headers or None)


def from_error(router: BaseRouter, exc: SpoonError) -> Response[str]:
    return fail(router, exc.status, exc.code, exc.message, exc.details, headers=exc.headers or None)


def not_found(router: BaseRouter) -> Response[str]:
    return fail(router, HTTPStatus.NOT_FOUND, "NOT_FOUND", "no such route")


# ------------------------------------------------------------------------------------------------ contract
_ERRORS = {
    400: "The request is not valid (VALIDATION_ERROR)",
    401: "Not signed in",
    403: "The account cannot sign in yet (USER_NOT_CONFIRMED, CHALLENGE_REQUIRED)",
    404: "Not found: no such item for this user (another user's is not found either), or a path that names no "
         "route (NOT_FOUND)",
    409: "The task's state does not allow this",
    413: "The body or the prompt is too large (PAYLOAD_TOO_LARGE)",
    415: "The body is not application/json (UNSUPPORTED_MEDIA_TYPE)",
    422: "A valid request this service cannot honour",
    429: "Too many requests: the user's quota (envelope, Retry-After) or the gateway's throttle "
         "({\"message\": \"Too Many Requests\"})",
    503: "A dependency is unavailable; try again",
}


def contract(model: type | None, description: str, *errors: int | tuple[int, str], status: int = 200,
             public: bool = False, body: bool = False, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Route keywords (`responses`, `security`) that document what the route really answers: its success
    model (None: no body, as a redirect) and `headers` (name: description), the error envelope for each error
    status it raises (a status alone, or `(status, what it means here)`), 400/413/415 when it takes a JSON body,
    and, unless public, the bearer scheme and the gateway authorizer's own 401 body."""

    def response(text: str, schema: Any) -> dict[str, Any]:
        return {"description": text, "content": {"application/json": {"model": schema}}}

    described = dict(e if isinstance(e, tuple) else (e, _ERRORS[e]) for e in errors)
    codes = set(described) | {429} | ({400, 413, 415} if body else set())
    # No body: an empty `content`, or Powertools would describe one from the route's return type.
    success = response(description, model) if model is not None else {"description": description, "content": {}}
    if headers:
        success["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                              for name, text in headers.items()}
    responses: dict[int, dict[str, Any]] = {status: success}
    for code in sorted(codes):
        schema: Any = ErrorEnvelope | GatewayMessage if code == 429 else ErrorEnvelope
        responses[code] = response(described.get(code, _ERRORS[code]), schema)
    kwargs: dict[str, Any] = {"responses": responses}
    if not public:
        responses[401] = response("API Gateway's JWT authorizer refused the token: its own body "
                                  "{\"message\": \"Unauthorized\"}, not the envelope", GatewayMessage)
        kwargs["security"] = [{BEARER: []}]
    return kwargs


# ------------------------------------------------------------------------------------------------ identity
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


#: The user pool group whose members command the GPU agents (template.yaml: AdminGroup).
ADMIN_GROUP = "admin"


def groups(router: BaseRouter) -> frozenset[str]:
    """The caller's user pool groups (the token's `cognito:groups`). API Gateway's JWT authorizer passes every
    claim as a string, a list as `[a b]`; a list is taken as it is too."""
    value = claims(router).get("cognito:groups")
    if isinstance(value, list):
        return frozenset(map(str, value))
    if isinstance(value, str):
        return frozenset(value.strip().removeprefix("[").removesuffix("]").split())
    return frozenset()


def is_admin(router: BaseRouter) -> bool:
    return ADMIN_GROUP in groups(router)


def admin(router: BaseRouter) -> str:
    """The caller's id when they are an administrator; 403 FORBIDDEN otherwise."""
    sub = caller(router)
    if not is_admin(router):
        raise Forbidden(f"only members of the user pool group {ADMIN_GROUP!r} may do this")
    return sub


def source_ip(router: BaseRouter) -> str:
    """The client's address as API Gateway saw it (requestContext.http.sourceIp)."""
    return str(router.current_event.request_context.http.source_ip or "unknown")
