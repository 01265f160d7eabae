"""The whole local cloud, started as a developer starts it (`make dev`), used over HTTP and WebSocket.

The provider endpoints are fakes the tests control, configured the way real ones are (OPENAI_API_KEY and
OPENAI_BASE_URL, and the same for ANTHROPIC_ and GEMINI_), so provider faults can be injected while everything
else is the real stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
OPENAI_KEY = "sk-test-e2e-000000000000001"
PROVIDER_KEYS = {"openai": OPENAI_KEY, "anthropic": "sk-ant-test-e2e-0001", "gemini": "AIza-test-e2e-0001"}
PASSWORD = "Second-user-Passw0rd"
# Retries within seconds, a request quota the tests' status polling stays under, and a short run lease so a
# killed worker's task is taken over within seconds.
PARAMETERS = "MaxReceiveCount=3 RetryBaseSeconds=1 UserRequestsPerMinute=5000 LeaseSeconds=8 HeartbeatSeconds=2"


@dataclass
class Cloud:
    info: dict[str, Any]
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def api(self) -> str:
        return str(self.info["api_url"])

    def login(self, username: str, password: str) -> dict[str, Any]:
        response = httpx.post(f"{self.api}/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])


@dataclass
class User:
    cloud: Cloud
    token: str
    id: str

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return httpx.request(method, f"{self.cloud.api}{path}", headers=headers, timeout=30, **kw)

    def socket(self) -> ClientConnection:
        return connect(f"{self.cloud.info['ws_url']}?token={self.token}", open_timeout=10)


@pytest.fixture(scope="session")
def provider() -> Iterator[Any]:
    from localcloud.fakes.openai_server import FakeOpenAI

    with FakeOpenAI(api_key=OPENAI_KEY, chunk_size=6) as server:
        yield server


@pytest.fixture(scope="session")
def other_providers() -> Iterator[dict[str, Any]]:
    """Anthropic's and Gemini's fakes, which the tests control like OpenAI's (same keyword: configured as real)."""
    from localcloud.fakes.anthropic_server import FakeAnthropic
    from localcloud.fakes.gemini_server import FakeGemini

    with (FakeAnthropic(api_key=PROVIDER_KEYS["anthropic"], chunk_size=6) as anthropic,
          FakeGemini(api_key=PROVIDER_KEYS["gemini"], chunk_size=6) as gemini):
        yield {"anthropic": anthropic, "gemini": gemini}


@pytest.fixture
def openai(provider: Any) -> Any:
    provider.reset()
    provider.chunk_delay, provider.reply = 0.0, None
    return provider


@contextlib.contextmanager
def running_cloud(state: Path, command: list[str], **settings: str) -> Iterator[Cloud]:
    """The local cloud in its own process group, as a terminal runs it; stopped with Ctrl-C (SIGINT)."""
    from localcloud.moto_process import free_port

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "OLLAMA_", "COMFYUI_"))}
    env.update({"SPOON_PORT": str(free_port()), "SPOON_AWS_PORT": str(free_port()), "SPOON_STATE_DIR": str(state),
                "SPOON_PARAMETERS": PARAMETERS, "SPOON_LOG_LEVEL": "WARNING", **settings})
    log = state / "cloud.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "local cloud is up" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "local cloud did not come up"
            time.sleep(0.2)
        yield Cloud(json.loads((state / "stack.json").read_text()), process, log)
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        started = time.monotonic()
        process.wait(timeout=20)
    assert time.monotonic() - started < 10, "the local cloud took too long to stop"


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory, provider: Any, other_providers: dict[str, Any]) -> Iterator[Cloud]:
    """Started exactly as a developer starts it, with a real-looking provider configuration."""
    others = {f"{name.upper()}_{what}": value for name, fake in other_providers.items()
              for what, value in (("API_KEY", PROVIDER_KEYS[name]), ("BASE_URL", fake.base_url))}
    with running_cloud(tmp_path_factory.mktemp("local-cloud"), ["make", "--no-print-directory", "dev"],
                       OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=provider.base_url, **others) as started:
        yield started


def _sign_in(cloud: Cloud, username: str, password: str) -> User:
    tokens = cloud.login(username, password)
    user = User(cloud, tokens["accessToken"], "")
    user.id = user.call("GET", "/auth/me").json()["data"]["id"]
    return user


@pytest.fixture(scope="session")
def alice(cloud: Cloud) -> User:
    return _sign_in(cloud, cloud.info["username"], cloud.info["password"])


def aws(cloud: Cloud, service: str) -> Any:
    """A client for the local cloud's AWS with the admin keys it wrote to stack.json (IAM is enforced)."""
    return boto3.client(service, endpoint_url=cloud.info["aws_endpoint_url"], region_name="us-east-1",
                        aws_access_key_id=cloud.info["aws_access_key_id"],
                        aws_secret_access_key=cloud.info["aws_secret_access_key"])


def new_user(cloud: Cloud, email: str) -> User:
    """Another user of the cloud, made by an administrator, signed in."""
    idp = aws(cloud, "cognito-idp")
    pool = cloud.info["user_pool_id"]
    idp.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": email},
                                          {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True)
    return _sign_in(cloud, email, PASSWORD)


@pytest.fixture(scope="session")
def bob(cloud: Cloud) -> User:
    return new_user(cloud, "bob@spoonfeeder.local")


def receive(ws: ClientConnection, until: Any, timeout: float = 30) -> list[dict[str, Any]]:
    """Messages from the socket up to and including the first one for which `until(message)` is true."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        got.append(message)
        if until(message):
            return got


def wait_for_status(user: User, task_id: str, statuses: set[str], timeout: float = 45) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = user.call("GET", f"/tasks/{task_id}").json()["data"]
        if task["status"] in statuses:
            return dict(task)
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} never reached {statuses}")


class Fleet:
    """The local cloud's agent plus the agents tests start (one fleet for the whole session: an agent a test
    restarts in place of the local cloud's own must outlive that test's module)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.pids = {agent["agent_id"]: agent["pid"] for agent in cloud.info["agents"]}
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, agent_id: str, **env: str) -> None:
        variables = {"PATH": os.environ.get("PATH", ""), **self.cloud.info["agent_env"], "AGENT_ID": agent_id, **env}
        process = subprocess.Popen([sys.executable, "-m", "spoon_agent"], env=variables,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.started[agent_id], self.pids[agent_id] = process, process.pid

    def alive(self, agent_id: str) -> bool:
        process = self.started.get(agent_id)
        if process is not None:
            return process.poll() is None
        # The local cloud's own agent is its child, not ours: once it exits it is a zombie until the cloud reaps
        # it, which a signal 0 cannot tell from a live process.
        try:
            state = Path(f"/proc/{self.pids[agent_id]}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return state not in ("Z", "X")

    def retire(self, agent_id: str) -> None:
        """Stop an agent a test started for itself (SIGTERM), so later tests see the fleet they expect."""
        process = self.started.pop(agent_id, None)
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=30)

    def stop_all_started(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                process.terminate()
        for process in self.started.values():
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def fleet(cloud: Cloud) -> Iterator[Fleet]:
    started = Fleet(cloud)
    yield started
    started.stop_all_started()
