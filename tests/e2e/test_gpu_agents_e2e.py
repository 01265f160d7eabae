"""GPU agents as processes beside the running local cloud, under the agent's role with IAM enforced, against the
local fake of Ollama (`make dev` labels it simulated): Ollama tasks over HTTP and WebSocket, a pull with progress,
and an agent killed with SIGKILL or stopped with SIGTERM mid-task while another one is there to finish it."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from tests.conftest import eventually
from tests.e2e.conftest import PASSWORD, Cloud, Fleet, User, _sign_in, aws, new_user, receive, wait_for_status

LOCAL_AGENT = "local-agent-1"
# The fake Ollama answers "Echo: <prompt>" in pieces of 8 characters, 20 ms apart: this prompt streams ~10 s.
LONG_PROMPT = "steady " * 570


def operator(cloud: Cloud) -> User:
    email = "gpu-operator@spoonfeeder.local"
    new_user(cloud, email)
    aws(cloud, "cognito-idp").admin_add_user_to_group(UserPoolId=cloud.info["user_pool_id"], Username=email,
                                                      GroupName="admin")
    return _sign_in(cloud, email, PASSWORD)


def live_agents(user: User) -> list[dict[str, Any]]:
    answer = user.call("GET", "/agents")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def wait_until(check: Any, timeout: float = 45.0) -> Any:
    return eventually(check, timeout=timeout, every=0.2)


def events(user: User, task_id: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        page = user.call("GET", f"/tasks/{task_id}/events", params={"after": got[-1]["seq"] if got else 0,
                                                                     "limit": 100}).json()
        got += page["data"]
        if not page["pagination"]["hasMore"]:
            return got


def test_the_local_agent_runs_ollama_tasks_streamed_over_the_websocket(cloud: Cloud, alice: User) -> None:
    agent = wait_until(lambda: next((a for a in live_agents(alice) if a["agent_id"] == LOCAL_AGENT), None))
    assert agent["simulated"] is True and agent["ollama"]["up"] is True  # the fake, labelled
    assert "llama3.2:latest" in [m["name"] for m in agent["models"]["installed"]]
    health = alice.call("GET", "/health").json()["data"]
    assert health["gpu_agents"] >= 1
    with alice.socket() as ws:
        created = alice.call("POST", "/tasks", json={"type": "chat", "provider": "ollama", "model": "llama3.2",
                                                      "messages": [{"role": "user", "content": "hello GPU"}]})
        assert created.status_code == 201, created.text
        task_id = created.json()["data"]["id"]
        ws.send('{"action": "subscribe", "topic": "task:' + task_id + '"}')
        got = receive(ws, lambda m: m.get("event", {}).get("type") in ("task:completed", "task:failed"))
    kinds = [m["event"]["type"] for m in got if m.get("type") == "event"]
    assert kinds[-1] == "task:completed", got[-1]
    streamed = "".join(m["event"]["data"]["text"] for m in got if m.get("event", {}).get("type") == "task:delta")
    done = wait_for_status(alice, task_id, {"succeeded"})
    assert done["result"]["text"] == "Echo: hello GPU" and (not streamed or streamed == done["result"]["text"])
    assert done["result"]["usage"]["output_tokens"] > 0 and done["metadata"]["agent_id"] == LOCAL_AGENT
    assert done["metadata"]["simulated"] is True


def test_pull_over_http_reports_progress_and_installs_the_model(cloud: Cloud, alice: User) -> None:
    ops = operator(cloud)
    with ops.socket() as ws:
        answer = ops.call("POST", "/models/ollama/qwen2.5:0.5b/pull", json={"agent_id": LOCAL_AGENT})
        assert answer.status_code == 202, answer.text
        task_id = answer.json()["data"]["id"]
        ws.send('{"action": "subscribe", "topic": "task:' + task_id + '"}')
        got = receive(ws, lambda m: m.get("event", {}).get("type") in ("task:completed", "task:failed"))
    pulls = [m["event"]["data"] for m in got if m.get("event", {}).get("type") == "model:pull"]
    assert pulls and pulls[-1]["percent"] == 100 and got[-1]["event"]["type"] == "task:completed"
    models = ops.call("GET", "/models", params={"provider": "ollama"}).json()["data"]
    assert "ollama/qwen2.5:0.5b" in [m["id"] for m in models]
    agent = next(a for a in live_agents(ops) if a["agent_id"] == LOCAL_AGENT)
    assert "qwen2.5:0.5b" in [m["name"] for m in agent["models"]["installed"]]

    missing = ops.call("POST", "/models/ollama/not-in-any-library:1b/pull", json={"agent_id": LOCAL_AGENT})
    failed = wait_for_status(ops, missing.json()["data"]["id"], {"failed", "succeeded"})
    assert failed["error"]["code"] == "MODEL_NOT_FOUND"


def _running_on(user: User, task_id: str) -> str:
    return str(wait_until(lambda: (t := user.call("GET", f"/tasks/{task_id}").json()["data"])["status"] == "running"
                          and any(e["type"] == "task:delta" for e in events(user, task_id))
                          and t["metadata"].get("agent_id")))


def _replace_if_local(fleet: Fleet, agent_id: str) -> None:
    """The local cloud's own agent, stopped by a test, is restarted under its id for the tests after it."""
    if agent_id == LOCAL_AGENT and not fleet.alive(agent_id):
        fleet.start(agent_id)


def test_an_agent_killed_mid_task_loses_nothing(cloud: Cloud, alice: User, fleet: Fleet) -> None:
    fleet.start("e2e-agent-kill")
    wait_until(lambda: "e2e-agent-kill" in [a["agent_id"] for a in live_agents(alice)])
    created = alice.call("POST", "/tasks", json={"type": "text", "provider": "ollama", "model": "llama3.2",
                                                  "prompt": LONG_PROMPT})
    task_id = created.json()["data"]["id"]
    holder = _running_on(alice, task_id)
    os.kill(fleet.pids[holder], signal.SIGKILL)
    try:
        done = wait_for_status(alice, task_id, {"succeeded", "failed"}, timeout=90)
        assert done["status"] == "succeeded", done
        assert done["result"]["text"] == "Echo: " + LONG_PROMPT
        assert done["metadata"]["agent_id"] != holder and done["lost_runs"] == 1
        kinds = [e["type"] for e in events(alice, task_id)]
        assert kinds.count("task:completed") == 1 and kinds.count("task:started") == 2
        # The killed agent drops out of the list when its last heartbeat runs out.
        wait_until(lambda: holder not in [a["agent_id"] for a in live_agents(alice)], timeout=60)
    finally:
        _replace_if_local(fleet, holder)
        fleet.retire("e2e-agent-kill")


def test_sigterm_mid_task_hands_the_task_back_within_the_grace_period(cloud: Cloud, alice: User,
                                                                       fleet: Fleet) -> None:
    fleet.start("e2e-agent-term")
    wait_until(lambda: "e2e-agent-term" in [a["agent_id"] for a in live_agents(alice)])
    created = alice.call("POST", "/tasks", json={"type": "text", "provider": "ollama", "model": "llama3.2",
                                                  "prompt": LONG_PROMPT * 2})
    task_id = created.json()["data"]["id"]
    holder = _running_on(alice, task_id)
    stopped_at = time.monotonic()
    os.kill(fleet.pids[holder], signal.SIGTERM)
    try:
        grace = float(cloud.info["agent_env"]["AGENT_GRACE_SECONDS"])
        wait_until(lambda: not fleet.alive(holder), timeout=grace + 10)
        assert time.monotonic() - stopped_at < grace + 10
        assert holder not in [a["agent_id"] for a in live_agents(alice)]  # it left the registry on its way out
        done = wait_for_status(alice, task_id, {"succeeded", "failed"}, timeout=90)
        assert done["status"] == "succeeded", done
        kinds = [e["type"] for e in events(alice, task_id)]
        handed = [e for e in events(alice, task_id) if e["type"] == "task:retrying"]
        assert kinds.count("task:completed") == 1
        assert handed and handed[0]["data"]["reason"] == "AGENT_STOPPING"
        assert done["lost_runs"] == 0  # a clean hand-back is no lost run
    finally:
        _replace_if_local(fleet, holder)
        fleet.retire("e2e-agent-term")
