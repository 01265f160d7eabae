"""Shared fixtures: moto's server over HTTP with the real template's resources, the provider fakes, and the
functions' handlers loaded from their folders with the environment the template gives them."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
OPENAI_KEY = "sk-test-integration-0000000001"
PROVIDER_KEYS = {"openai": OPENAI_KEY, "anthropic": "sk-ant-test-integration-0001",
                 "gemini": "AIza-test-integration-0001"}
# Small numbers so retries and dead-lettering happen within seconds.
TEST_PARAMETERS = {"MaxReceiveCount": "3", "RetryBaseSeconds": "1", "UserRequestsPerMinute": "1000",
                   "ProviderEndpointAllowedHosts": "127.0.0.1"}  # users' endpoints may name the fakes


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from localcloud.moto_process import MotoServer

    with MotoServer() as server:
        os.environ.update(AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                          AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION)
        yield server.url


@dataclass(frozen=True)
class MotoEndpoint:
    url: str


@pytest.fixture(scope="session")
def moto(moto_url: str) -> MotoEndpoint:
    return MotoEndpoint(moto_url)


@pytest.fixture(scope="session")
def stack(moto_url: str) -> Any:
    from localcloud.stack import create_stack

    return create_stack(ROOT / "template.yaml", moto_url, REGION, TEST_PARAMETERS)


@pytest.fixture(scope="session")
def provider_fakes(stack: Any) -> Iterator[dict[str, Any]]:
    """A fake of each cloud provider, each the operator default of its provider in the ProviderSecret."""
    from localcloud.fakes.anthropic_server import FakeAnthropic
    from localcloud.fakes.gemini_server import FakeGemini
    from localcloud.fakes.openai_server import FakeOpenAI

    with (FakeOpenAI(api_key=PROVIDER_KEYS["openai"]) as openai,
          FakeAnthropic(api_key=PROVIDER_KEYS["anthropic"]) as anthropic,
          FakeGemini(api_key=PROVIDER_KEYS["gemini"]) as gemini):
        fakes = {"openai": openai, "anthropic": anthropic, "gemini": gemini}
        boto3.client("secretsmanager").put_secret_value(
            SecretId=stack.resources["ProviderSecret"],
            SecretString=json.dumps({name: {"api_key": PROVIDER_KEYS[name], "base_url": fake.base_url}
                                     for name, fake in fakes.items()}))
        yield fakes


@pytest.fixture(scope="session")
def fake_openai(provider_fakes: dict[str, Any]) -> Any:
    return provider_fakes["openai"]


@pytest.fixture
def openai_fake(fake_openai: Any) -> Any:
    fake_openai.reset()
    return fake_openai


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = ""
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/test"
    log_stream_name: str = "test"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 150_000


@pytest.fixture(scope="session")
def functions(stack: Any, fake_openai: Any) -> dict[str, ModuleType]:
    """Every function's handler module, imported as Lambda would: its folder first on sys.path, its
    environment from the template (all functions agree on shared names, so one process holds them all)."""
    for spec in stack.functions.values():
        os.environ.update(spec.env)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    os.environ["JWKS_URL"] = f"{stack_jwks(stack)}"
    loaded: dict[str, ModuleType] = {}
    for logical_id, spec in stack.functions.items():
        sys.path.insert(0, str(spec.code_dir))
        try:
            module_spec = importlib.util.spec_from_file_location(f"fn_{logical_id}", spec.code_dir / "app.py")
            assert module_spec and module_spec.loader
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(spec.code_dir))
        loaded[logical_id] = module
    return loaded


def stack_jwks(stack: Any) -> str:
    return f"{os.environ['AWS_ENDPOINT_URL']}/{stack.user_pool_id}/.well-known/jwks.json"


def http_event(method: str, path: str, *, user: str | None, body: Any = None, query: dict[str, str] | None = None,
               headers: dict[str, str] | None = None, raw_body: str | None = None,
               groups: list[str] | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event as the JWT authorizer passes it on (`groups`: the user's
    user pool groups, the `cognito:groups` claim, which the authorizer passes as the string `[a b]`)."""
    context: dict[str, Any] = {
        "accountId": "123456789012", "apiId": "api", "domainName": "localhost", "domainPrefix": "localhost",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
        "requestId": str(uuid.uuid4()), "routeKey": "ANY /api/{proxy+}", "stage": "$default",
        "time": "22/Nov/2026:10:00:00 +0000", "timeEpoch": 1_795_000_000_000,
    }
    if user:
        claims = {"sub": user, "token_use": "access"}
        if groups:
            claims["cognito:groups"] = "[" + " ".join(groups) + "]"
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "ANY /api/{proxy+}", "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": context, "isBase64Encoded": False,
        "pathParameters": {"proxy": path.removeprefix("/api/")},
    }
    if query:
        event["queryStringParameters"] = query
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    return event


class Api:
    """Calls the API function's handler like the gateway does and decodes the envelope."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def __call__(self, method: str, path: str, *, user: str | None = "user-a", **kw: Any) -> tuple[int, Any, dict]:
        response = self.module.lambda_handler(http_event(method, path, user=user, **kw), LambdaContext())
        body = json.loads(response["body"]) if response.get("body") else None
        return response["statusCode"], body, response.get("headers") or {}


@pytest.fixture(scope="session")
def api(functions: dict[str, ModuleType]) -> Api:
    return Api(functions["ApiFunction"])


T = TypeVar("T")


def calls_during(make: Callable[[], T]) -> tuple[T, list[str]]:
    """What `make()` returns, and the AWS calls the functions' clients (spoonfeeder.data.aws) made meanwhile."""
    from spoonfeeder.data.aws import client

    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.removeprefix("before-call."))

    for service in ("dynamodb", "sqs", "s3"):
        client(service).meta.events.register("before-call", count)
    try:
        return make(), calls
    finally:
        for service in ("dynamodb", "sqs", "s3"):
            client(service).meta.events.unregister("before-call", count)


def eventually(check: Callable[[], Any], timeout: float = 5.0, every: float = 0.02) -> Any:
    """The first truthy answer of `check()`, asked every `every` seconds; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if got := check():
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(every)


def drain(url: str) -> None:
    """Delete every visible message (PurgeQueue is allowed once a minute)."""
    sqs = boto3.client("sqs")
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
