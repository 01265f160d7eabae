"""Without provider keys the local cloud answers from a simulated provider, and says so everywhere."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Cloud, User, running_cloud, wait_for_status

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("offline-cloud"), [sys.executable, "-m", "localcloud"]) as cloud:
        yield cloud


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
def test_simulated_provider_is_labelled(offline: Cloud, vendor: str) -> None:
    assert offline.info["simulated_providers"] == ["openai", "anthropic", "gemini"]
    health = httpx.get(f"{offline.api}/health", timeout=30).json()["data"]  # the first call starts the function
    assert health["status"] == "healthy" and health["provider_keys"][vendor]["simulated"] is True
    tokens = offline.login(offline.info["username"], offline.info["password"])
    user = User(offline, tokens["accessToken"], "")
    created = user.call("POST", "/tasks", json={"type": "text", "provider": vendor, "prompt": "hi"})
    task_id = created.json()["data"]["id"]
    task = wait_for_status(user, task_id, {"succeeded", "failed"})
    assert task["status"] == "succeeded" and task["metadata"] == {"simulated": True}
    assert task["result"]["text"] == "Echo: hi"
    log = Path(offline.log).read_text(errors="replace")
    assert f"SIMULATED provider: {vendor}" in log
