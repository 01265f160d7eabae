"""Each handler imports only what its Lambda has: no provider SDK at import time (the WebSocket, events and
dead-letter functions have no providers layer at all; the worker loads an SDK only for a task that needs it, the
API only for a provider settings test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

SDKS = ("openai", "anthropic", "google.genai")
PROBE = (
    "import json, sys; sys.path.insert(0, sys.argv[1]); import app; "
    "print(json.dumps([m for m in sys.argv[2:] if m in sys.modules]))"
)


def loaded_by_import(stack: Any, function: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh process of `function` has loaded after `import app`."""
    spec = stack.functions[function]
    result = subprocess.run([sys.executable, "-c", PROBE, str(spec.code_dir), *modules],
                            env={**os.environ, **spec.env}, capture_output=True, text=True, timeout=60, check=True)
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("function", ["ApiFunction", "WsFunction", "EventsFunction", "LlmWorkerFunction",
                                      "DeadLettersFunction", "SweeperFunction"])
def test_handler_import_pulls_in_no_provider_sdk(stack: Any, function: str) -> None:
    assert loaded_by_import(stack, function, SDKS) == []


@pytest.mark.parametrize("function", ["LlmWorkerFunction", "EventsFunction", "DeadLettersFunction",
                                      "SweeperFunction"])
def test_worker_side_handlers_import_no_pydantic(stack: Any, function: str) -> None:
    """pydantic's import is a third of these functions' cold start: their task, event and message records are
    plain dataclasses (docs/benchmarks.md, cold start). The API keeps pydantic for its contract."""
    assert loaded_by_import(stack, function, ("pydantic", "pydantic_core")) == []


ROUTE_PROBE = """\
import json, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
import app
from tests.conftest import LambdaContext, http_event
ROUTERS = ("routers.auth", "routers.tasks", "routers.provider_settings", "routers.models", "routers.usage",
           "routers.profiles", "routers.system")
loaded = {"import": [m for m in ROUTERS if m in sys.modules]}
for method, path in json.loads(sys.argv[3]):
    answer = app.lambda_handler(http_event(method, path, user="lazy-user"), LambdaContext())
    loaded[f"{method} {path} {answer['statusCode']}"] = [m for m in ROUTERS if m in sys.modules]
    if path.endswith("openapi.json"):
        loaded["documented"] = sorted(json.loads(answer["body"])["paths"])
print(json.dumps(loaded))
"""


def probe_routes(stack: Any, requests: list[tuple[str, str]]) -> dict[str, Any]:
    """In a fresh API process: which router modules are loaded after `import app` and after each request."""
    spec = stack.functions["ApiFunction"]
    root = str(spec.code_dir.parents[1])
    result = subprocess.run([sys.executable, "-c", ROUTE_PROBE, str(spec.code_dir), root, json.dumps(requests)],
                            env={**os.environ, **spec.env}, capture_output=True, text=True, timeout=120, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_api_loads_a_router_when_a_request_for_it_first_arrives(stack: Any) -> None:
    loaded = probe_routes(stack, [("GET", "/api/tasks"), ("GET", "/api/version"), ("GET", "/api/nowhere")])
    assert loaded == {
        "import": [],
        "GET /api/tasks 200": ["routers.tasks"],
        "GET /api/version 200": ["routers.tasks", "routers.system"],  # "/api" serves what no longer prefix claims
        "GET /api/nowhere 404": ["routers.tasks", "routers.system"],
    }


def test_the_openapi_document_lists_every_router_whatever_was_requested_before(stack: Any) -> None:
    loaded = probe_routes(stack, [("GET", "/api/openapi.json")])
    assert loaded["GET /api/openapi.json 200"] == ["routers.auth", "routers.tasks", "routers.provider_settings",
                                                   "routers.models", "routers.usage", "routers.profiles",
                                                   "routers.system"]
    assert {"/api/tasks", "/api/tasks/{task_id}", "/api/auth/login", "/api/health", "/api/settings",
            "/api/profiles", "/api/usage", "/api/models"} <= set(loaded["documented"])


WORKER_RUN = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import boto3, app
from tests.conftest import LambdaContext
from tests.integration.test_llm_worker import sqs_event

sqs = boto3.client("sqs")
queue = sys.argv[3]
arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=5)
app.lambda_handler(sqs_event(got["Messages"], arn), LambdaContext())
print(json.dumps([m for m in ("openai", "anthropic", "google.genai") if m in sys.modules]))
"""


def test_a_worker_that_ran_an_openai_task_imported_only_openai(
        stack: Any, api: Any, queues: dict[str, str], fake_openai: Any) -> None:
    from tests.conftest import ROOT

    fake_openai.reset()
    task_id = api("POST", "/api/tasks", body={"type": "text", "provider": "openai", "prompt": "hi"})[1]["data"]["id"]
    spec = stack.functions["LlmWorkerFunction"]
    result = subprocess.run([sys.executable, "-c", WORKER_RUN, str(spec.code_dir), str(ROOT),
                             queues["LlmTasksQueue"]], env={**os.environ, **spec.env}, capture_output=True,
                            text=True, timeout=120, check=True)
    assert api("GET", f"/api/tasks/{task_id}")[1]["data"]["status"] == "succeeded", result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["openai"]
