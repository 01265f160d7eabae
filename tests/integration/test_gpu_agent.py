"""The GPU agent, in this process, against moto's server and the fake Ollama (through the official client): tasks
from the shared gpu-tasks queue, model operations from its inbox, its heartbeat, cancel and SIGTERM hand-back.

Killing an agent with SIGKILL needs a process of its own: tests/e2e/test_gpu_agents.py does that."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from localcloud.fakes.ollama_server import FakeOllama

from tests.conftest import eventually

MODEL = "llama3.2:latest"
ADMIN = ["admin"]


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    return eventually(check, timeout=timeout, every=0.05)


class RunningAgent:
    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.thread = threading.Thread(target=agent.run, daemon=True)

    @property
    def id(self) -> str:
        return str(self.agent.id)

    def start(self) -> RunningAgent:
        self.thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.agent.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the agent did not stop"


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=(MODEL,), chunk_size=4, chunk_delay=0.01, reply="The GPU answers in small pieces.") as fake:
        yield fake


@pytest.fixture
def start_agent(stack: Any, functions: Any) -> Iterator[Callable[..., RunningAgent]]:
    """Starts agents with small timings; each stops at the end of the test."""
    from spoon_agent.agent import Agent
    from spoon_agent.config import AgentSettings

    started: list[RunningAgent] = []

    def start(ollama: FakeOllama, **overrides: Any) -> RunningAgent:
        settings = AgentSettings(**{
            "table_name": str(stack.resources["Table"]), "bucket_name": str(stack.resources["Bucket"]),
            "gpu_tasks_queue_url": str(stack.resources["GpuTasksQueue"]), "ollama_url": ollama.base_url,
            "ollama_simulated": True, "agent_id": f"agent-{uuid.uuid4().hex[:8]}", "agent_beat_seconds": 0.5,
            "agent_alive_seconds": 3, "agent_inbox_seconds": 0.2, "agent_receive_wait_seconds": 1,
            "agent_grace_seconds": 5.0, "lease_seconds": 4, "heartbeat_seconds": 0.5, "metrics_port": 0,
            "delta_flush_seconds": 0.05, "max_receive_count": 3, "retry_base_seconds": 1.0, **overrides})
        running = RunningAgent(Agent(settings)).start()
        started.append(running)
        return running

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()


def create(api: Any, user: str, **body: Any) -> dict[str, Any]:
    status, created, _ = api("POST", "/api/tasks", user=user, body=body)
    assert status == 201, created
    return created["data"]


def task_of(api: Any, user: str, task_id: str) -> dict[str, Any]:
    status, got, _ = api("GET", f"/api/tasks/{task_id}", user=user)
    assert status == 200, got
    return got["data"]


def finished(api: Any, user: str, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
    return wait_for(lambda: (t := task_of(api, user, task_id))["status"] in ("succeeded", "failed", "cancelled")
                    and t, timeout)


def events_of(api: Any, user: str, task_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        status, got, _ = api("GET", f"/api/tasks/{task_id}/events", user=user,
                             query={"limit": "100", "after": str(events[-1]["seq"] if events else 0)})
        assert status == 200, got
        events += got["data"]
        if not got["pagination"]["hasMore"]:
            return events


def agent_report(api: Any, agent_id: str) -> dict[str, Any] | None:
    status, got, _ = api("GET", f"/api/agents/{agent_id}", user=f"viewer-{uuid.uuid4().hex[:6]}")
    return got["data"] if status == 200 else None


def user() -> str:
    return f"gpu-user-{uuid.uuid4().hex[:10]}"


def test_text_and_chat_tasks_stream_deltas_and_complete_with_usage(
        api: Any, ollama: FakeOllama, start_agent: Callable[..., RunningAgent]) -> None:
    agent = start_agent(ollama)
    wait_for(lambda: agent_report(api, agent.id))
    me = user()
    text = create(api, me, type="text", provider="ollama", model="llama3.2", prompt="Say something",
                  options={"temperature": 0.2, "max_tokens": 64})
    chat = create(api, me, type="chat", provider="ollama", model="llama3.2",
                  messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                            {"role": "user", "content": "and now?"}])
    for created in (text, chat):
        done = finished(api, me, created["id"])
        assert done["status"] == "succeeded", done
        assert done["result"]["text"] == "The GPU answers in small pieces."
        usage = done["result"]["usage"]
        assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        kinds = [e["type"] for e in events_of(api, me, created["id"])]
        assert kinds.count("task:completed") == 1 and "task:delta" in kinds
        recorded = events_of(api, me, created["id"])
        deltas = "".join(e["data"]["text"] for e in recorded if e["type"] == "task:delta")
        assert deltas == "The GPU answers in small pieces."
    paths = [sent["path"] for sent in ollama.requests]
    assert "/api/chat" in paths and "/api/generate" in paths
    # Another user sees neither task.
    assert api("GET", f"/api/tasks/{text['id']}", user=user())[0] == 404


def test_pull_reports_progress_then_the_model_is_installed_on_that_agent(
        api: Any, ollama: FakeOllama, start_agent: Callable[..., RunningAgent]) -> None:
    agent = start_agent(ollama)
    wait_for(lambda: agent_report(api, agent.id))
    admin = user()
    status, body, _ = api("POST", "/api/models/ollama/qwen2.5:0.5b/pull", user=admin, groups=ADMIN,
                          body={"agent_id": agent.id})
    assert status == 202, body
    done = finished(api, admin, body["data"]["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["op"] == "pull" and done["result"]["agent_id"] == agent.id
    pulls = [e["data"] for e in events_of(api, admin, done["id"]) if e["type"] == "model:pull"]
    assert pulls and pulls[-1]["percent"] == 100
    percents = [p["percent"] for p in pulls if p.get("percent") is not None]
    assert percents == sorted(percents)
    # Seen at once: the agent beats its new inventory before the task completes.
    installed = [m["name"] for m in agent_report(api, agent.id)["models"]["installed"]]
    assert "qwen2.5:0.5b" in installed
    status, listed, _ = api("GET", "/api/models", user=admin, query={"provider": "ollama"})
    assert status == 200
    entry = next(m for m in listed["data"] if m["id"] == "ollama/qwen2.5:0.5b")
    assert agent.id in str(entry)

    status, body, _ = api("POST", "/api/models/ollama/no-such-model:1b/pull", user=admin, groups=ADMIN,
                          body={"agent_id": agent.id})
    assert status == 202, body
    failed = finished(api, admin, body["data"]["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "MODEL_NOT_FOUND"


def test_load_unload_and_delete_change_what_the_agent_reports(
        api: Any, ollama: FakeOllama, start_agent: Callable[..., RunningAgent]) -> None:
    agent = start_agent(ollama)
    wait_for(lambda: agent_report(api, agent.id))
    admin = user()

    def op(method: str, path: str) -> dict[str, Any]:
        status, body, _ = api(method, path, user=admin, groups=ADMIN, body={"agent_id": agent.id})
        assert status == 202, body
        done = finished(api, admin, body["data"]["id"])
        assert done["status"] == "succeeded", done
        return agent_report(api, agent.id) or {}

    loaded = op("POST", f"/api/models/ollama/{MODEL}/load")["models"]["loaded"]
    assert [m["name"] for m in loaded] == [MODEL]
    assert op("POST", f"/api/models/ollama/{MODEL}/unload")["models"]["loaded"] == []
    assert MODEL not in [m["name"] for m in op("DELETE", f"/api/models/ollama/{MODEL}")["models"]["installed"]]
    assert ollama.installed == []


def test_cancel_mid_stream_closes_the_ollama_stream(
        api: Any, start_agent: Callable[..., RunningAgent]) -> None:
    with FakeOllama(models=(MODEL,), chunk_size=2, chunk_delay=0.1, reply="x" * 400) as slow:
        agent = start_agent(slow)
        wait_for(lambda: agent_report(api, agent.id))
        me = user()
        created = create(api, me, type="text", provider="ollama", model=MODEL, prompt="a long one")
        wait_for(lambda: any(e["type"] == "task:delta" for e in events_of(api, me, created["id"])))
        status, body, _ = api("DELETE", f"/api/tasks/{created['id']}", user=me)
        assert status == 200, body
        assert finished(api, me, created["id"])["status"] == "cancelled"
        # The run stops at its next write and closes the stream: the fake sees its client hang up.
        wait_for(lambda: slow.aborted_streams == 1, timeout=5)
        time.sleep(1)
        kinds = [e["type"] for e in events_of(api, me, created["id"])]
        assert "task:completed" not in kinds
        assert agent.agent.in_flight() == 0


def test_sigterm_hands_a_running_task_back_and_another_agent_finishes_it(
        api: Any, start_agent: Callable[..., RunningAgent]) -> None:
    with FakeOllama(models=(MODEL,), chunk_size=2, chunk_delay=0.1, reply="y" * 200) as slow:
        first = start_agent(slow, agent_grace_seconds=0.5)
        wait_for(lambda: agent_report(api, first.id))
        me = user()
        created = create(api, me, type="text", provider="ollama", model=MODEL, prompt="long")
        wait_for(lambda: task_of(api, me, created["id"])["status"] == "running")
        first.stop()  # what SIGTERM does: no new work, then the grace period, then hand back
        assert agent_report(api, first.id) is None  # it left the registry
        handed = task_of(api, me, created["id"])
        assert handed["status"] in ("retrying", "succeeded"), handed
        second = start_agent(slow)
        done = finished(api, me, created["id"], timeout=60)
        assert done["status"] == "succeeded" and done["result"]["text"] == "y" * 200
        kinds = [e["type"] for e in events_of(api, me, created["id"])]
        assert kinds.count("task:completed") == 1
        assert second.agent.in_flight() == 0


def test_an_agent_that_stops_beating_drops_out_of_the_list_and_health(
        api: Any, ollama: FakeOllama, start_agent: Callable[..., RunningAgent]) -> None:
    agent = start_agent(ollama)
    wait_for(lambda: agent_report(api, agent.id))
    status, listed, _ = api("GET", "/api/agents", user=user())
    assert status == 200 and agent.id in [a["agent_id"] for a in listed["data"]]
    counted = live_in_health(api)
    agent.agent.inventory.stop(leave=False)  # beats stop as if the host died; the item stays until its TTL
    wait_for(lambda: agent_report(api, agent.id) is None, timeout=10)
    status, listed, _ = api("GET", "/api/agents", user=user())
    assert agent.id not in [a["agent_id"] for a in listed["data"]]
    assert live_in_health(api) == counted - 1


def live_in_health(api: Any) -> int:
    status, health, _ = api("GET", "/api/health", user=None)
    assert status in (200, 503), health
    data = health.get("data") or health["error"]["details"]
    return int(data["gpu_agents"])


def test_a_command_reaches_the_agent_it_names_and_no_other(
        api: Any, start_agent: Callable[..., RunningAgent]) -> None:
    with FakeOllama(models=(MODEL,)) as first_ollama, FakeOllama(models=(MODEL,)) as second_ollama:
        first, second = start_agent(first_ollama), start_agent(second_ollama)
        wait_for(lambda: agent_report(api, first.id) and agent_report(api, second.id))
        admin = user()
        status, body, _ = api("POST", "/api/models/ollama/qwen2.5:0.5b/pull", user=admin, groups=ADMIN,
                              body={"agent_id": second.id})
        assert status == 202, body
        assert finished(api, admin, body["data"]["id"])["status"] == "succeeded"
        assert "qwen2.5:0.5b" in second_ollama.installed and "qwen2.5:0.5b" not in first_ollama.installed


def test_metrics_are_served_in_prometheus_format(ollama: FakeOllama, start_agent: Callable[..., RunningAgent]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start_agent(ollama, metrics_port=port)
    text = wait_for(lambda: _metrics(port))
    assert "spoon_agent_tasks_in_flight" in text and "spoon_agent_ollama_up 1.0" in text


def _metrics(port: int) -> str | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return None


def test_a_task_goes_to_the_agent_that_has_its_model(api: Any, start_agent: Callable[..., RunningAgent]) -> None:
    with (FakeOllama(models=(MODEL,), chunk_size=8) as has_it,
          FakeOllama(models=("qwen2.5:0.5b",), chunk_size=8) as lacks_it):
        holder, other = start_agent(has_it), start_agent(lacks_it)
        wait_for(lambda: agent_report(api, holder.id) and agent_report(api, other.id))
        me = user()
        created = [create(api, me, type="text", provider="ollama", model="llama3.2", prompt=f"job {n}")
                   for n in range(6)]
        for task in created:
            done = finished(api, me, task["id"])
            assert done["status"] == "succeeded", done
            assert done["metadata"]["agent_id"] == holder.id
        assert not [sent for sent in lacks_it.requests if sent["path"] in ("/api/generate", "/api/chat")]


def test_the_stream_s_last_deltas_are_written_with_the_completion(
        api: Any, ollama: FakeOllama, start_agent: Callable[..., RunningAgent]) -> None:
    agent = start_agent(ollama, delta_flush_seconds=60)  # nothing is flushed while the answer streams
    wait_for(lambda: agent_report(api, agent.id))
    me = user()
    created = create(api, me, type="text", provider="ollama", model=MODEL, prompt="one write")
    assert finished(api, me, created["id"])["status"] == "succeeded"
    recorded = events_of(api, me, created["id"])
    tail = [e for e in recorded if e["type"] == "task:delta"]
    completed = recorded[-1]
    assert completed["type"] == "task:completed" and tail
    assert "".join(e["data"]["text"] for e in tail) == "The GPU answers in small pieces."
    # One transaction: the deltas and the completion carry the task's one update time, in seq order.
    assert {e["at"] for e in tail} == {completed["at"]}
    assert [e["seq"] for e in (*tail, completed)] == list(range(tail[0]["seq"], completed["seq"] + 1))


def test_an_agent_that_may_pull_pulls_a_missing_model_then_runs_the_task(
        api: Any, start_agent: Callable[..., RunningAgent]) -> None:
    with FakeOllama(models=(MODEL,), chunk_size=8) as bare:
        agent = start_agent(bare, agent_auto_pull=True)
        wait_for(lambda: (report := agent_report(api, agent.id)) and report["capabilities"]["auto_pull"])
        me = user()
        created = create(api, me, type="text", provider="ollama", model="qwen2.5:0.5b", prompt="fresh model")
        done = finished(api, me, created["id"])
        assert done["status"] == "succeeded" and done["metadata"]["agent_id"] == agent.id
        assert "qwen2.5:0.5b" in bare.installed
        wait_for(lambda: "qwen2.5:0.5b" in [m["name"] for m in agent_report(api, agent.id)["models"]["installed"]])
