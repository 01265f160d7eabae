"""Each handler imports only what its Lambda has: no provider SDK at import time (the WebSocket, events and
dead-letter functions have no providers layer at all; the worker loads an SDK only for a task that needs it, the
API only for a provider settings test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import boto3
import pytest

SDKS = ("openai", "anthropic", "google.genai", "ollama")  # ollama: the GPU agent's alone
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


RUN_FRESH = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
from tests.conftest import LambdaContext
answer = app.lambda_handler(json.loads(sys.argv[3]), LambdaContext())
print(json.dumps({"answer": answer, "pydantic": "pydantic" in sys.modules}))
"""


def run_fresh(stack: Any, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """One invocation of `function` in a fresh process: its answer, and whether pydantic got loaded."""
    from tests.conftest import ROOT

    spec = stack.functions[function]
    result = subprocess.run([sys.executable, "-c", RUN_FRESH, str(spec.code_dir), str(ROOT), json.dumps(event)],
                            env={**os.environ, **spec.env}, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_dead_letters_events_and_the_sweeper_do_their_work_without_pydantic(
        stack: Any, api: Any, functions: Any, queues: dict[str, str]) -> None:
    """Not only their import: a first invocation reads and writes tasks, events and messages without it."""
    from spoonfeeder.data.items import to_item
    from spoonfeeder.data.task_store import TaskStore
    from spoonfeeder.models.messages import TaskMessage

    from tests.integration.test_sweeper import queued_task
    from tests.integration.test_usage import finishing_record

    # Dead letters: the last message of a task fails it.
    task_id = api("POST", "/api/tasks", body={"type": "text", "provider": "openai", "prompt": "hi"})[1]["data"]["id"]
    sent_ms = str(int(time.time() * 1000))
    dead_letter_queue = queues["LlmTasksDeadLetterQueue"].rsplit("/")[-1]
    letter = {"messageId": str(uuid.uuid4()), "receiptHandle": "r", "eventSource": "aws:sqs", "messageAttributes": {},
              "body": TaskMessage(task_id=task_id, owner="user-a", attempt=1).to_json(),
              "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{dead_letter_queue}",
              "attributes": {"SentTimestamp": sent_ms, "ApproximateFirstReceiveTimestamp": sent_ms,
                             "ApproximateReceiveCount": "3"}}
    assert run_fresh(stack, "DeadLettersFunction", {"Records": [letter]}) == {
        "answer": {"batchItemFailures": []}, "pydantic": False}
    failed = api("GET", f"/api/tasks/{task_id}")[1]["data"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "RETRIES_EXHAUSTED"

    # Events: the failure's event item goes to the (no) watchers, a finished task's usage is counted.
    (event,) = [e for e in api("GET", f"/api/tasks/{task_id}/events")[1]["data"] if e["type"] == "task:failed"]
    image = to_item({**event, "pk": f"TASK#{task_id}", "sk": f"EVENT#{event['seq']:010d}", "entity": "event",
                     "owner": "user-a"})
    pushed = {"eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
              "dynamodb": {"NewImage": image, "SequenceNumber": "1", "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    user = f"usage-{uuid.uuid4().hex[:8]}"
    assert run_fresh(stack, "EventsFunction", {"Records": [pushed, finishing_record(user, "T1", "2")]}) == {
        "answer": {"batchItemFailures": []}, "pydantic": False}
    total = api("GET", "/api/usage", user=user, query={"from": "2026-11-20", "to": "2026-11-20"})[1]["data"]["total"]
    assert (total["tasks"], total["input_tokens"]) == (1, 1000)

    # The sweeper: a queued task whose message is gone is sent again.
    waiting = queued_task(TaskStore(os.environ["TABLE_NAME"]), age_seconds=600)
    try:
        swept = run_fresh(stack, "SweeperFunction", {})
        assert waiting.id in swept["answer"]["requeued"] and swept["pydantic"] is False
    finally:
        # The sweep re-sent every due task of the shared table (other tests' queued ones too), some with a
        # delay: none of those messages may turn up in a later test's queue. Purging removes delayed ones too.
        for name in ("LlmTasksQueue", "GpuTasksQueue"):
            boto3.client("sqs").purge_queue(QueueUrl=str(stack.resources[name]))
