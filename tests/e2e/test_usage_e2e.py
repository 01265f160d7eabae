"""Usage as a user sees it: after a burst of tasks, GET /api/usage adds up exactly what the tasks report."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import Cloud, User, new_user, wait_for_status

pytestmark = pytest.mark.e2e
BURST = 20


def test_usage_totals_follow_a_burst_of_tasks(cloud: Cloud, openai: Any) -> None:
    carol = new_user(cloud, "carol@spoonfeeder.local")  # her own totals: no other test's tasks in them
    empty = carol.call("GET", "/usage", params={"groupBy": "model"}).json()["data"]
    assert empty["groups"] == [] and empty["total"]["tasks"] == 0

    def run(i: int) -> dict[str, Any]:
        body = {"type": "text", "provider": "openai", "model": "gpt-4o-mini", "prompt": f"task {i}: " + "tokens " * i}
        created = carol.call("POST", "/tasks", json=body)
        assert created.status_code == 201, created.text
        return wait_for_status(carol, created.json()["data"]["id"], {"succeeded"}, timeout=120)

    with ThreadPoolExecutor(4) as pool:
        tasks = list(pool.map(run, range(BURST)))
    tokens = sum(t["result"]["usage"]["total_tokens"] for t in tasks)
    cost = sum(t["result"]["cost_usd"] for t in tasks)
    assert tokens > 0 and cost > 0

    deadline = time.monotonic() + 60
    while True:  # counted off the request path, from the table stream: within seconds
        report = carol.call("GET", "/usage", params={"groupBy": "model"}).json()["data"]
        if report["total"]["tasks"] >= BURST or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    total = report["total"]
    assert total["tasks"] == BURST and total["total_tokens"] == tokens
    assert total["cost_usd"] == pytest.approx(cost, abs=1e-6)
    assert [g["model"] for g in report["groups"]] == ["gpt-4o-mini"]
    time.sleep(2)  # nothing is counted twice later on
    assert carol.call("GET", "/usage", params={"groupBy": "model"}).json()["data"]["total"] == total


def test_models_by_id_through_the_gateway(alice: User) -> None:
    known = alice.call("GET", "/models/openai/gpt-4.1-nano")
    assert known.status_code == 200 and known.json()["data"]["id"] == "openai/gpt-4.1-nano"
    # A name with '/' and ':' is the rest of the path; not listed, so an envelope 404.
    unknown = alice.call("GET", "/models/ollama/library/llama3:8b")
    assert unknown.status_code == 404 and unknown.json()["error"]["details"] == {"id": "ollama/library/llama3:8b"}
