"""A request too large for a table item goes to S3 and back: the user sees the same task either way."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Cloud, User, wait_for_status

pytestmark = pytest.mark.e2e


def test_a_large_cjk_prompt_runs_and_shows_as_sent(cloud: Cloud, alice: User, openai: Any) -> None:
    prompt = "漢字" * 15_000  # 90 KB of UTF-8: the request is kept in S3, the echoed result too
    created = alice.call("POST", "/tasks", json={"type": "text", "provider": "openai", "prompt": prompt})
    assert created.status_code == 201, created.text
    task_id = created.json()["data"]["id"]
    assert created.json()["data"]["input"] == {"prompt": prompt}
    task = wait_for_status(alice, task_id, {"succeeded", "failed"}, timeout=90)
    assert task["status"] == "succeeded", task["error"]
    assert task["request_snapshot"]["messages"][-1]["content"] == prompt
    assert task["result"]["text_s3_key"] and task["result"]["bytes"] > 32 * 1024
    # Other tests' tasks may still be running on the same fake: find this task's request among them.
    sent = [r for r in openai.requests if r["json"]["messages"][-1]["content"] == prompt]
    assert len(sent) == 1  # the provider got the whole prompt, read back from S3, once
    too_large = alice.call("POST", "/tasks", json={"type": "text", "provider": "openai", "prompt": "漢" * 100_000})
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
