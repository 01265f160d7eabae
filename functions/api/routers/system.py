"""/api health and version."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import spoonfeeder
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, Field
from spoonfeeder import web
from spoonfeeder.data.aws import client
from spoonfeeder.errors import ServiceUnavailable
from spoonfeeder.models.envelope import Envelope
from spoonfeeder.providers import credentials

from routers.deps import agent_registry, config

router = Router()
logger = Logger(child=True)


class Check(BaseModel):
    ok: bool
    ms: float | None = Field(default=None, description="How long the call took, when it answered")
    error: str | None = Field(default=None, description="The error's type, when it failed")


class ProviderKey(BaseModel):
    configured: bool
    simulated: bool = Field(description="True when the key is the local cloud's offline simulator")


class Health(BaseModel):
    status: Literal["healthy"]
    version: str
    checks: dict[str, Check] = Field(description="One call each, as this function makes it: the table "
                                                 "(DescribeTable), the agents' registry (a Query), the task queues "
                                                 "(GetQueueAttributes), the bucket (HeadBucket), the provider "
                                                 "secret (GetSecretValue)")
    provider_keys: dict[str, ProviderKey] = Field(description="Which providers have a key in the provider secret. "
                                                              "The providers themselves are not called.")
    gpu_agents: int = Field(description="Live GPU agents: those whose last heartbeat in the registry still "
                                        "counts (one Query of the table; the agents themselves are not called). "
                                        "0 is healthy: the cloud providers need none.")


class Version(BaseModel):
    version: str
    stage: str


def _check(probe: Callable[[], object]) -> Check:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # a health check reports failures, it does not raise them
        logger.warning("health check failed", exc_info=exc)  # the cause goes to the log, not to the caller
        return Check(ok=False, error=type(exc).__name__)
    return Check(ok=True, ms=round((time.perf_counter() - started) * 1000, 1))


def _queue(url: str) -> Callable[[], object]:
    return lambda: client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])


@router.get("/health", summary="Can this function reach the table, the task queues, the bucket and the provider secret",
            description="Measures reachability from the API function, with timings, lists which providers have a "
                        "key and counts the live GPU agents (from their heartbeats in the table); it calls no "
                        "provider and no agent. 503 UNHEALTHY carries the checks in error.details.",
            **web.contract(Envelope[Health], "Every dependency answered", 503, public=True))
def health() -> Response[Envelope[Health]]:
    keys: dict[str, dict[str, bool]] = {}
    agents: list[object] = []
    checks = {
        "table": _check(lambda: client("dynamodb").describe_table(TableName=config.table_name)),
        "agent_registry": _check(lambda: agents.extend(agent_registry().live())),
        "llm_queue": _check(_queue(config.llm_tasks_queue_url)),
        "gpu_queue": _check(_queue(config.gpu_tasks_queue_url)),
        "bucket": _check(lambda: client("s3").head_bucket(Bucket=config.bucket_name)),
        "provider_secret": _check(lambda: keys.update(credentials.configured(config.provider_secret_arn))),
    }
    if not all(c.ok for c in checks.values()):
        raise ServiceUnavailable("a dependency is unreachable", code="UNHEALTHY", details={
            "status": "unhealthy", "version": spoonfeeder.__version__,
            "checks": {name: c.model_dump(exclude_none=True) for name, c in checks.items()}})
    return web.ok(router, Health(status="healthy", version=spoonfeeder.__version__, checks=checks,
                                 provider_keys=keys, gpu_agents=len(agents)))


@router.get("/version", summary="Version of the running code",
            **web.contract(Envelope[Version], "The version", public=True))
def version() -> Response[Envelope[Version]]:
    return web.ok(router, Version(version=spoonfeeder.__version__, stage=config.stage))
