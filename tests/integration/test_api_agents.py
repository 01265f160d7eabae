"""GPU agents through the API function, against moto's server: the fleet (GET /api/agents, health), Ollama tasks
routed to the gpu-tasks queue only when an agent can run them, the Ollama models the agents report, and model
operations (admins only) handed to one agent's inbox. Agents are simulated by heartbeats of the contract's shape,
written with the registry the agent uses."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from spoonfeeder import ids
from spoonfeeder.data.agents import REGISTRY_PK, AgentInbox, AgentRegistry
from spoonfeeder.data.task_store import TaskStore
from spoonfeeder.models.messages import TaskMessage
from spoonfeeder.tasks.routing import Lane
from spoonfeeder.tasks.sweeper import sweep

from tests.conftest import drain

ADMIN = {"user": "admin-1", "groups": ["admin"]}
SECRET_URL = "http://ollama-user:s3cret-password@gpu-box:11434"


def report(agent_id: str, *, installed: tuple[str, ...] = (), loaded: tuple[str, ...] = (), auto_pull: bool = False,
           in_flight: int = 0, up: bool = True) -> dict[str, Any]:
    """A heartbeat report as the contract shapes it (plus a field no view may show)."""
    return {
        "agent_id": agent_id, "host": f"{agent_id}.lan", "version": "0.1.0", "labels": ["a100"], "concurrency": 2,
        "tasks_in_flight": in_flight, "started_at": "2026-11-23T10:00:00.000Z",
        "heartbeat_at": "2026-11-23T10:00:05.000Z", "simulated": True,
        "capabilities": {"ollama": up, "comfyui": False, "auto_pull": auto_pull},
        "gpus": [{"index": 0, "name": "NVIDIA A100", "memory_total_mb": 81920, "memory_used_mb": 1024,
                  "utilization_percent": 7}],
        "ollama": {"up": up, "version": "0.12.0" if up else None},
        "models": {"installed": [{"name": name, "size": 2019393189, "digest": f"sha256:{len(name):064x}",
                                  "modified_at": "2026-11-20T08:00:00Z", "family": "llama", "parameter_size": "3.2B",
                                  "quantization_level": "Q4_K_M"} for name in installed],
                   "loaded": [{"name": name, "size_vram": 3_000_000_000, "expires_at": "2026-11-23T10:05:00Z"}
                              for name in loaded]},
        "ollama_url": SECRET_URL,  # an agent must never report it; if one did, the API must not pass it on
    }


Beat = Callable[..., None]


@pytest.fixture
def registry(stack: Any, functions: Any) -> AgentRegistry:
    return AgentRegistry(stack.resources["Table"])


def _forget_every_agent(registry: AgentRegistry) -> None:
    ddb = boto3.client("dynamodb")
    found = ddb.query(TableName=registry.table, KeyConditionExpression="pk = :pk",
                      ExpressionAttributeValues={":pk": {"S": REGISTRY_PK}})["Items"]
    for item in found:
        ddb.delete_item(TableName=registry.table, Key={"pk": item["pk"], "sk": item["sk"]})


@pytest.fixture
def beat(registry: AgentRegistry, api: Any) -> Iterator[Beat]:
    """Heartbeats of simulated agents: `beat(id, dead=True, **report)` writes one that has run out already. The
    registry is emptied before and after, and the commands left in the inboxes of the agents beaten are
    cancelled (so no other test's sweep sends them again)."""
    _forget_every_agent(registry)
    beaten: set[str] = set()

    def write(agent_id: str, *, dead: bool = False, **kw: Any) -> None:
        beaten.add(agent_id)
        registry.beat(agent_id, report(agent_id, **kw), alive_seconds=60,
                      now=time.time() - 120 if dead else None)

    yield write
    _forget_every_agent(registry)
    commands = AgentInbox(registry.table)
    for agent_id in beaten:
        for command in commands.pending(agent_id):
            api("DELETE", f"/api/tasks/{command.task_id}", user=command.owner)
            commands.remove(agent_id, command.task_id)


@pytest.fixture
def gpu_queue(stack: Any) -> str:
    url = str(stack.resources["GpuTasksQueue"])
    drain(url)
    return url


def messages(url: str) -> list[dict[str, Any]]:
    got = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def table_items(stack: Any) -> int:
    scanned = boto3.client("dynamodb").scan(
        TableName=stack.resources["Table"], Select="COUNT",
        FilterExpression="sk <> :c", ExpressionAttributeValues={":c": {"S": "COUNTER"}})
    return int(scanned["Count"])


# ------------------------------------------------------------------------------------------------ the fleet
def test_agents_lists_the_live_ones_and_shows_no_secret(api: Any, beat: Beat) -> None:
    beat("gpu-b", installed=("llama3.2:latest",), in_flight=1)
    beat("gpu-a", installed=("mistral:7b",), loaded=("mistral:7b",))
    beat("gpu-dead", dead=True)
    status, body, _ = api("GET", "/api/agents", user="any-user")
    assert status == 200
    assert [a["agent_id"] for a in body["data"]] == ["gpu-a", "gpu-b"]
    first = body["data"][0]
    assert first["gpus"][0]["name"] == "NVIDIA A100" and first["ollama"] == {"up": True, "version": "0.12.0"}
    assert first["models"]["loaded"][0]["name"] == "mistral:7b" and first["capabilities"]["ollama"] is True
    assert first["alive_until"] > time.time() + 30
    assert SECRET_URL not in json.dumps(body) and "ollama_url" not in first

    status, one, _ = api("GET", "/api/agents/gpu-b")
    assert status == 200 and one["data"]["tasks_in_flight"] == 1 and "ollama_url" not in one["data"]
    for agent_id, code in (("gpu-dead", 404), ("nobody", 404), ("bad%20id!", 400)):
        status, refused, _ = api("GET", f"/api/agents/{agent_id}")
        assert status == code, agent_id
        if code == 404:
            assert refused["error"]["code"] == "AGENT_NOT_FOUND"
    assert api("GET", "/api/agents", user=None)[0] == 401


def test_health_counts_the_live_agents(api: Any, beat: Beat) -> None:
    assert api("GET", "/api/health", user=None)[1]["data"]["gpu_agents"] == 0
    beat("gpu-1")
    beat("gpu-2")
    beat("gpu-gone", dead=True)
    status, health, _ = api("GET", "/api/health", user=None)
    assert status == 200 and health["data"]["gpu_agents"] == 2 and health["data"]["checks"]["agent_registry"]["ok"]


# ------------------------------------------------------------------------------------------------ Ollama tasks
def test_an_ollama_task_goes_to_the_gpu_queue(api: Any, beat: Beat, gpu_queue: str) -> None:
    beat("gpu-1", installed=("llama3.2:latest",))
    options = {"num_ctx": 4096, "keep_alive": "10m", "top_k": 40, "think": False}
    status, body, _ = api("POST", "/api/tasks", body={
        "type": "text", "provider": "ollama", "model": "llama3.2", "prompt": "Say hello",
        "options": {"temperature": 0.3, "max_tokens": 64}, "provider_options": options})
    assert status == 201, body
    task = body["data"]
    assert task["status"] == "queued" and task["model"] == "llama3.2"
    assert task["request_snapshot"]["provider_options"] == options
    sent = messages(gpu_queue)
    assert len(sent) == 1
    message = TaskMessage.from_json(json.dumps(sent[0]))
    assert (message.task_id, message.owner, message.attempt) == (task["id"], "user-a", 1)


def test_a_chat_task_without_model_uses_the_default_ollama_model(api: Any, beat: Beat, gpu_queue: str) -> None:
    beat("gpu-1", installed=("llama3.2:latest",))
    status, body, _ = api("POST", "/api/tasks", body={
        "type": "chat", "provider": "ollama", "messages": [{"role": "user", "content": "Hi"}]})
    assert status == 201 and body["data"]["model"] == "llama3.2"
    assert [m["task_id"] for m in messages(gpu_queue)] == [body["data"]["id"]]


def test_no_agent_able_to_run_the_model_is_422_and_writes_nothing(
        api: Any, beat: Beat, gpu_queue: str, stack: Any) -> None:
    beat("gpu-1", installed=("llama3.2:latest",))
    beat("gpu-down", installed=("mistral:latest",), up=False)  # a report made while its Ollama was down
    before = table_items(stack)
    for model in ("mistral", "hf.co/org/repo:Q4"):
        status, body, _ = api("POST", "/api/tasks", body={"type": "text", "provider": "ollama", "model": model,
                                                           "prompt": "x"})
        assert (status, body["error"]["code"]) == (422, "NOT_AVAILABLE"), body
        assert model in body["error"]["message"] and "/pull" in body["error"]["message"]
    assert table_items(stack) == before and messages(gpu_queue) == []

    beat("gpu-2", auto_pull=True)  # an agent that pulls what it lacks may take it
    status, body, _ = api("POST", "/api/tasks", body={"type": "text", "provider": "ollama", "model": "mistral",
                                                       "prompt": "x"})
    assert status == 201 and [m["task_id"] for m in messages(gpu_queue)] == [body["data"]["id"]]


@pytest.mark.parametrize("options", [{"num_ctx": 0}, {"keep_alive": "forever"}, {"think": "maximum"},
                                     {"logit_bias": {"1": 2}}, {"unknown_option": 1}])
def test_ollama_options_are_checked(api: Any, beat: Beat, options: dict[str, Any]) -> None:
    beat("gpu-1", installed=("llama3.2:latest",))
    status, body, _ = api("POST", "/api/tasks", body={"type": "text", "provider": "ollama", "prompt": "x",
                                                       "provider_options": options})
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), options


def test_model_operations_are_not_created_as_plain_tasks(api: Any, beat: Beat) -> None:
    beat("gpu-1", installed=("llama3.2:latest",))
    status, body, _ = api("POST", "/api/tasks", body={"type": "model_op", "provider": "ollama", "prompt": "pull"},
                          **ADMIN)
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


# ------------------------------------------------------------------------------------------------ Ollama models
def test_models_include_what_the_agents_report(api: Any, beat: Beat) -> None:
    beat("gpu-1", installed=("llama3.2:latest", "hf.co/org/repo:Q4"), loaded=("llama3.2:latest",))
    beat("gpu-2", installed=("llama3.2:latest",))
    status, body, _ = api("GET", "/api/models", query={"provider": "ollama"})
    assert status == 200
    assert [m["id"] for m in body["data"]] == ["ollama/hf.co/org/repo:Q4", "ollama/llama3.2:latest"]
    llama = body["data"][1]
    assert [i["agent_id"] for i in llama["ollama"]["installed_on"]] == ["gpu-1", "gpu-2"]
    assert llama["ollama"]["loaded_on"] == [{"agent_id": "gpu-1", "size_vram": 3_000_000_000,
                                             "expires_at": "2026-11-23T10:05:00Z"}]
    assert llama["ollama"]["parameter_size"] == "3.2B" and "chat" in llama["capabilities"]
    cloud = api("GET", "/api/models", query={"provider": "openai", "limit": "1"})[1]["data"][0]
    assert cloud["ollama"] is None

    for path in ("/api/models/ollama/llama3.2", "/api/models/ollama/llama3.2:latest"):
        status, one, _ = api("GET", path)
        assert status == 200 and one["data"]["id"] == "ollama/llama3.2:latest", path
    for path in ("/api/models/ollama/hf.co/org/repo:Q4", "/api/models/ollama/hf.co%2Forg%2Frepo%3AQ4"):
        status, one, _ = api("GET", path)
        assert status == 200 and one["data"]["name"] == "hf.co/org/repo:Q4", path


def test_model_status_says_where_it_is_installed_and_loaded(api: Any, beat: Beat) -> None:
    beat("gpu-1", installed=("llama3.2:latest", "hf.co/org/repo:Q4"), loaded=("llama3.2:latest",))
    beat("gpu-2", installed=("llama3.2:latest",))
    status, body, _ = api("GET", "/api/models/ollama/llama3.2/status")
    assert status == 200 and body["data"]["status"] == "loaded" and body["data"]["id"] == "ollama/llama3.2:latest"
    assert [i["agent_id"] for i in body["data"]["installed_on"]] == ["gpu-1", "gpu-2"]
    assert [i["agent_id"] for i in body["data"]["loaded_on"]] == ["gpu-1"]
    status, body, _ = api("GET", "/api/models/ollama/hf.co/org/repo:Q4/status")
    assert status == 200 and body["data"]["status"] == "not_loaded" and body["data"]["name"] == "hf.co/org/repo:Q4"
    for path in ("/api/models/ollama/mistral/status", "/api/models/ollama/mistral"):
        status, body, _ = api("GET", path)
        assert (status, body["error"]["code"]) == (404, "MODEL_NOT_FOUND"), path
    status, body, _ = api("GET", "/api/models/ollama/bad name!/status")
    assert status == 400


# ------------------------------------------------------------------------------------------------ model operations
def inbox(stack: Any, agent_id: str) -> list[tuple[str, int]]:
    return [(c.task_id, c.attempt) for c in AgentInbox(stack.resources["Table"]).pending(agent_id)]


def test_a_pull_goes_to_the_least_busy_agents_inbox(api: Any, beat: Beat, stack: Any, gpu_queue: str) -> None:
    beat("gpu-busy", in_flight=2)
    beat("gpu-idle", in_flight=0)
    beat("gpu-down", up=False)
    for path, name in (("/api/models/ollama/llama3.2/pull", "llama3.2:latest"),
                       ("/api/models/ollama/hf.co/org/repo:Q4/pull", "hf.co/org/repo:Q4"),
                       ("/api/models/ollama/hf.co%2Forg%2Frepo%3AQ5/pull", "hf.co/org/repo:Q5")):
        status, body, _ = api("POST", path, **ADMIN)
        assert status == 202, body
        task = body["data"]
        assert (task["type"], task["provider"], task["model"], task["status"]) == (
            "model_op", "ollama", name, "queued")
        assert task["request_snapshot"] == {"op": "pull", "provider": "ollama", "model": name,
                                            "agent_id": "gpu-idle"}
        assert task["metadata"] == {"agent_id": "gpu-idle"}
        assert (task["id"], 1) in inbox(stack, "gpu-idle")
    assert inbox(stack, "gpu-busy") == [] and messages(gpu_queue) == []
    status, events, _ = api("GET", f"/api/tasks/{task['id']}/events", user="admin-1")
    assert [e["type"] for e in events["data"]] == ["task:created", "task:queued"]
    assert events["data"][1]["data"]["lane"] == "agent-inbox"

    status, body, _ = api("POST", "/api/models/ollama/llama3.2/pull", body={"agent_id": "gpu-busy"}, **ADMIN)
    assert status == 202 and body["data"]["metadata"] == {"agent_id": "gpu-busy"}
    assert [t for t, _ in inbox(stack, "gpu-busy")] == [body["data"]["id"]]


def test_load_unload_and_delete_choose_an_agent_that_has_the_model(api: Any, beat: Beat, stack: Any) -> None:
    beat("gpu-1", installed=("llama3.2:latest",), loaded=("llama3.2:latest",))
    beat("gpu-2", installed=("llama3.2:latest", "mistral:7b"), in_flight=3)
    beat("gpu-3")

    status, load, _ = api("POST", "/api/models/ollama/llama3.2/load", body={"keep_alive": "30m"}, **ADMIN)
    assert status == 202 and load["data"]["metadata"]["agent_id"] == "gpu-2"  # gpu-1 has it loaded already
    assert load["data"]["request_snapshot"]["keep_alive"] == "30m"
    status, unload, _ = api("POST", "/api/models/ollama/llama3.2:latest/unload", **ADMIN)
    assert status == 202 and unload["data"]["metadata"]["agent_id"] == "gpu-1"
    status, delete, _ = api("DELETE", "/api/models/ollama/mistral:7b", **ADMIN)
    assert status == 202 and delete["data"]["metadata"]["agent_id"] == "gpu-2"
    assert delete["data"]["request_snapshot"]["op"] == "delete"
    assert {t for t, _ in inbox(stack, "gpu-2")} == {load["data"]["id"], delete["data"]["id"]}


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/api/models/ollama/mistral/load", None, 404, "MODEL_NOT_FOUND"),
    ("DELETE", "/api/models/ollama/mistral", None, 404, "MODEL_NOT_FOUND"),
    ("POST", "/api/models/ollama/llama3.2/load", {"agent_id": "gpu-3"}, 404, "MODEL_NOT_FOUND"),
    ("POST", "/api/models/ollama/llama3.2/pull", {"agent_id": "gpu-nowhere"}, 404, "AGENT_NOT_FOUND"),
    ("POST", "/api/models/ollama/llama3.2/pull", {"agent_id": "gpu-dead"}, 404, "AGENT_NOT_FOUND"),
    ("POST", "/api/models/ollama/llama3.2/pull", {"agent": "gpu-1"}, 400, "VALIDATION_ERROR"),
    ("POST", "/api/models/ollama/llama3.2/load", {"keep_alive": "a while"}, 400, "VALIDATION_ERROR"),
    ("POST", "/api/models/ollama/bad name/pull", None, 400, "VALIDATION_ERROR"),
    ("POST", "/api/models/ollama/llama3.2/reload", None, 404, "NOT_FOUND"),
])
def test_bad_model_operations_are_refused_and_write_nothing(
        api: Any, beat: Beat, stack: Any, method: str, path: str, body: Any, status: int, code: str) -> None:
    beat("gpu-1", installed=("llama3.2:latest",))
    beat("gpu-3")
    beat("gpu-dead", installed=("llama3.2:latest",), dead=True)
    before = table_items(stack)
    got, answer, _ = api(method, path, body=body, **ADMIN)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert table_items(stack) == before


def test_only_admins_command_agents(api: Any, beat: Beat, stack: Any) -> None:
    beat("gpu-1", installed=("llama3.2:latest",))
    before = table_items(stack)
    for method, path in (("POST", "/api/models/ollama/llama3.2/pull"), ("POST", "/api/models/ollama/llama3.2/load"),
                         ("POST", "/api/models/ollama/llama3.2/unload"), ("DELETE", "/api/models/ollama/llama3.2")):
        for groups in (None, ["editors", "administrators"]):
            status, body, _ = api(method, path, user="plain-user", groups=groups)
            assert (status, body["error"]["code"]) == (403, "FORBIDDEN"), (path, groups)
    assert table_items(stack) == before and inbox(stack, "gpu-1") == []
    assert api("POST", "/api/models/ollama/llama3.2/pull", user=None)[0] == 401


def test_no_agent_to_pull_on_is_422(api: Any, beat: Beat) -> None:
    beat("gpu-down", up=False)
    status, body, _ = api("POST", "/api/models/ollama/llama3.2/pull", **ADMIN)
    assert (status, body["error"]["code"]) == (422, "NOT_AVAILABLE")


def test_a_model_operation_is_cancelled_and_retried_through_the_inbox(api: Any, beat: Beat, stack: Any) -> None:
    beat("gpu-1")
    task_id = api("POST", "/api/models/ollama/llama3.2/pull", **ADMIN)[1]["data"]["id"]
    status, cancelled, _ = api("DELETE", f"/api/tasks/{task_id}", user="admin-1")
    assert status == 200 and cancelled["data"]["status"] == "cancelled"
    AgentInbox(stack.resources["Table"]).remove("gpu-1", task_id)  # as the agent does with a finished command

    status, refused, _ = api("POST", f"/api/tasks/{task_id}/retry", user="admin-1")  # no longer an admin
    assert (status, refused["error"]["code"]) == (403, "FORBIDDEN") and inbox(stack, "gpu-1") == []
    # Another admin's task is not theirs either.
    assert api("POST", f"/api/tasks/{task_id}/retry", user="admin-2", groups=["admin"])[0] == 404
    status, retried, _ = api("POST", f"/api/tasks/{task_id}/retry", **ADMIN)
    assert status == 202 and retried["data"]["attempt"] == 2
    assert inbox(stack, "gpu-1") == [(task_id, 2)]


def test_the_sweeper_puts_a_lost_command_back_in_the_inbox(api: Any, beat: Beat, stack: Any) -> None:
    beat("gpu-1")
    task_id = api("POST", "/api/models/ollama/llama3.2/pull", **ADMIN)[1]["data"]["id"]
    table = stack.resources["Table"]
    AgentInbox(table).remove("gpu-1", task_id)  # the command is gone, the task still queued
    later = ids.now() + timedelta(seconds=120)
    swept = sweep(TaskStore(table), {Lane.AGENT: table}, grace_seconds=60, now=later)
    assert task_id in swept.requeued
    assert inbox(stack, "gpu-1") == [(task_id, 1)]


def test_a_command_for_an_agent_that_is_gone_fails_agent_lost(api: Any, beat: Beat, stack: Any,
                                                               registry: AgentRegistry) -> None:
    beat("gpu-1")
    task_id = api("POST", "/api/models/ollama/llama3.2/pull", **ADMIN)[1]["data"]["id"]
    registry.leave("gpu-1")  # it stopped (or its heartbeats ran out) before taking the command
    table = stack.resources["Table"]
    swept = sweep(TaskStore(table), {Lane.AGENT: table}, grace_seconds=60, now=ids.now() + timedelta(seconds=120))
    assert task_id in swept.agent_lost and task_id not in swept.requeued
    task = api("GET", f"/api/tasks/{task_id}", user="admin-1")[1]["data"]
    assert task["status"] == "failed" and task["error"]["code"] == "AGENT_LOST"
