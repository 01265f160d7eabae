"""HTTP API function: the Powertools resolver, its routers, and one place that renders errors."""

from __future__ import annotations

from typing import Any

import spoonfeeder
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from routers.quota import enforce_quota
from spoonfeeder import snapstart, web
from spoonfeeder.errors import SpoonError

logger = Logger()
app = web.Resolver()
app.use(middlewares=[enforce_quota])
# Each router is imported and registered when a request under its prefix first arrives (web.Resolver): a cold
# start pays only for the routes it serves. The OpenAPI document and SnapStart's warm-up include every one.
app.include_lazy_router("routers.auth", prefix="/api/auth")
app.include_lazy_router("routers.tasks", prefix="/api/tasks")
app.include_lazy_router("routers.provider_settings", prefix="/api/settings")
app.include_lazy_router("routers.models", prefix="/api/models")
app.include_lazy_router("routers.agents", prefix="/api/agents")
app.include_lazy_router("routers.usage", prefix="/api/usage")
app.include_lazy_router("routers.profiles", prefix="/api/profiles")
app.include_lazy_router("routers.comfyui", prefix="/api/comfyui")
app.include_lazy_router("routers.batches", prefix="/api/batches")
app.include_lazy_router("routers.system", prefix="/api")
app.configure_openapi(
    title="Spoon Feeder API", version=spoonfeeder.__version__, security_schemes=web.SECURITY_SCHEMES,
    description="One API over cloud LLMs and local GPUs. Every answer of the function uses the envelope "
                "{success, data | error, requestId, timestamp}; API Gateway's own refusals (its JWT authorizer's "
                "401, its throttling's 429) are {\"message\": ...}.")
app.enable_swagger(path="/api/docs")
app.serve_openapi("/api/openapi.json")
# SnapStart: the clients, the Swagger UI and the OpenAPI document are ready in the snapshot.
snapstart.prepare("dynamodb", "sqs", "s3", "cognito-idp", "kms", then=app.prepare_docs)


@app.exception_handler(SpoonError)
def _spoon_error(exc: SpoonError) -> Response[str]:
    return web.from_error(app, exc)


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response[str]:
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
    return web.fail(app, 400, "VALIDATION_ERROR", "the request is not valid", {"errors": errors})


@app.not_found
def _no_route(_: Exception) -> Response[str]:
    return web.not_found(app)


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    logger.exception("unhandled error")
    return web.fail(app, 500, "INTERNAL_ERROR", "something went wrong on our side")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
