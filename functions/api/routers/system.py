"""/api health, version and the OpenAPI document."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import spoonfeeder
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from spoonfeeder import web
from spoonfeeder.data.aws import client
from spoonfeeder.providers import credentials

from routers.deps import config

router = Router()


def _check(probe: Callable[[], object]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # a health check reports failures, it does not raise them
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _agents_seen() -> int:
    got = client("dynamodb").query(TableName=config.table_name, KeyConditionExpression="pk = :p",
                                   ExpressionAttributeValues={":p": {"S": "AGENTS"}}, Select="COUNT")
    return int(got["Count"])


@router.get("/health", summary="Is the platform up: table, queues, bucket, providers, agents")
def health() -> Response[str]:
    checks = {
        "table": _check(lambda: client("dynamodb").describe_table(TableName=config.table_name)),
        "llm_queue": _check(lambda: client("sqs").get_queue_attributes(
            QueueUrl=config.llm_tasks_queue_url, AttributeNames=["ApproximateNumberOfMessages"])),
        "gpu_queue": _check(lambda: client("sqs").get_queue_attributes(
            QueueUrl=config.gpu_tasks_queue_url, AttributeNames=["ApproximateNumberOfMessages"])),
        "bucket": _check(lambda: client("s3").head_bucket(Bucket=config.bucket_name)),
    }
    healthy = all(c["ok"] for c in checks.values())
    try:
        providers: dict[str, Any] = credentials.configured(config.provider_secret_arn)
    except Exception as exc:
        providers = {"error": type(exc).__name__}
    try:
        agents: dict[str, Any] = {"seen": _agents_seen()}
    except Exception as exc:
        agents = {"error": type(exc).__name__}
    data = {"status": "healthy" if healthy else "unhealthy", "version": spoonfeeder.__version__,
            "checks": checks, "providers": providers, "agents": agents}
    if not healthy:
        return web.fail(router, 503, "UNHEALTHY", "a dependency is unreachable", data)
    return web.ok(router, data)


@router.get("/version", summary="Version of the running code")
def version() -> Response[str]:
    return web.ok(router, {"version": spoonfeeder.__version__, "stage": config.stage})


def serve_openapi(app: APIGatewayHttpResolver) -> None:
    """/api/openapi.json: the document generated from the routes' typed parameters."""

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi() -> Response[str]:
        return Response(status_code=200, content_type="application/json",
                        body=app.get_openapi_json_schema(title="Spoon Feeder API",
                                                         version=spoonfeeder.__version__))
