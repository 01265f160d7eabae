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


def test_simulated_provider_is_labelled(offline: Cloud) -> None:
    assert offline.info["simulated_providers"] == ["openai"]
    health = httpx.get(f"{offline.api}/health").json()["data"]
    assert health["status"] == "healthy" and health["provider_keys"]["openai"]["simulated"] is True
    tokens = offline.login(offline.info["username"], offline.info["password"])
    user = User(offline, tokens["accessToken"], "")
    created = user.call("POST", "/tasks", json={"type": "text", "provider": "openai", "prompt": "hi"})
    task_id = created.json()["data"]["id"]
    task = wait_for_status(user, task_id, {"succeeded", "failed"})
    assert task["status"] == "succeeded" and task["metadata"] == {"simulated": True}
    assert "SIMULATED" in Path(offline.log).read_text(errors="replace")
