"""Worker processes killed with SIGKILL in the middle of a burst of tasks loses nothing and runs nothing twice.

"Nothing runs twice" means: every task finishes once (one `task:completed`), and the provider is asked again
only for a run that was killed — that task's own prompt, at most once more, after its lease ended (its
`lost_runs` says so; the killed run may have died before its request reached the provider). Every other
prompt reaches the provider exactly once.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from typing import Any

import pytest

from tests.e2e.conftest import Cloud, User

pytestmark = pytest.mark.e2e
TASKS = 30


def worker_pids(cloud: Cloud) -> list[int]:
    """Live LLM worker processes, from the pid files the local cloud's workers keep."""
    pids = [int(p.suffix[1:]) for p in (cloud.log.parent / "pids").glob("*LlmWorkerFunction*")]
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive


def running(user: User, ids: list[str]) -> bool:
    listed = user.call("GET", "/tasks", params={"status": "running", "limit": 100}).json()["data"]
    return any(task["id"] in ids for task in listed)


def test_a_killed_worker_strands_no_task_and_none_runs_twice(cloud: Cloud, alice: User, openai: Any) -> None:
    openai.chunk_delay = 0.15  # about 3 s per task, so the kill lands mid-run and mid-burst
    prompts = [f"task {i} of the burst: " + "word " * 15 for i in range(TASKS)]
    started = time.monotonic()
    ids = []
    for prompt in prompts:
        created = alice.call("POST", "/tasks", json={"type": "text", "provider": "openai", "prompt": prompt})
        assert created.status_code == 201, created.text
        ids.append(created.json()["data"]["id"])

    while len(openai.requests) < 6 or not running(alice, ids):  # the burst in full swing, a run under way
        assert time.monotonic() - started < 60, "the workers never started"
        time.sleep(0.25)
    # Every worker at once: the one holding the run just seen is surely among them (which process runs which
    # task is not known from outside), and a worker that was between two tasks loses nothing either.
    victims = worker_pids(cloud)
    assert victims, "no LLM worker process found"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)

    tasks: dict[str, dict[str, Any]] = {}
    while len(tasks) < TASKS:
        assert time.monotonic() - started < 180, f"not terminal within 3 minutes: {set(ids) - set(tasks)}"
        for task_id in set(ids) - set(tasks):
            task = alice.call("GET", f"/tasks/{task_id}").json()["data"]
            if task["status"] in ("succeeded", "failed", "cancelled"):
                tasks[task_id] = task
        time.sleep(0.5)

    assert {t["status"] for t in tasks.values()} == {"succeeded"}
    for task_id in ids:
        events = alice.call("GET", f"/tasks/{task_id}/events").json()["data"]
        assert [e["type"] for e in events].count("task:completed") == 1, task_id
    asked = Counter(r["json"]["messages"][-1]["content"] for r in openai.requests)
    taken_over = [prompt for prompt, task_id in zip(prompts, ids, strict=True) if tasks[task_id]["lost_runs"]]
    # Each killed worker was running at most one task (one message per invocation), and one of them a run.
    assert 1 <= len(taken_over) <= len(victims)
    assert {p: asked[p] for p in prompts if p not in taken_over} == {p: 1 for p in prompts if p not in taken_over}
    # A killed run may have died before or after its request reached the provider.
    assert all(asked[p] in (1, 2) for p in taken_over)
