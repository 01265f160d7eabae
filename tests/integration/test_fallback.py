"""Fallback chains and cooldowns: the LLM worker fed real SQS records from moto, calling the fake OpenAI
through the official SDK, for tasks created from presets through the API function."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
from spoonfeeder.data.cooldowns import CooldownPolicy, Cooldowns

from tests.integration.test_llm_worker import events_of, run_until_settled


def models(*names: str) -> list[str]:
    """Model names of this test only: cooldowns are shared by every task, so tests must not share pairs."""
    tag = uuid.uuid4().hex[:8]
    return [f"{name}-{tag}" for name in names]


def task_from_chain(api: Any, first: str, *fallbacks: str) -> str:
    preset = {"name": "chain", "type": "text", "provider": "openai", "model": first,
              "prompt_template": "Say {word}", "fallbacks": [{"provider": "openai", "model": m} for m in fallbacks]}
    status, saved, _ = api("POST", "/api/profiles", body=preset)
    assert status == 201, saved
    status, created, _ = api("POST", "/api/tasks", body={"profile_id": saved["data"]["id"],
                                                         "variables": {"word": "hello"}})
    assert status == 201, created
    return str(created["data"]["id"])


def calls_for(fake: Any, model: str) -> int:
    return sum(1 for r in fake.requests if (r["json"] or {}).get("model") == model)


def moves(api: Any, task_id: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events_of(api, task_id) if e["type"] == "task:retrying" and "to" in e["data"]]


def cool_down(stack: Any, model: str, seconds: int) -> None:
    Cooldowns(stack.resources["Table"], CooldownPolicy(failures=1, window_seconds=60, seconds=seconds)).failed(
        "openai", model)


def dead_letters(queues: dict[str, str]) -> int:
    attrs = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queues["LlmTasksDeadLetterQueue"], AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def test_the_chain_moves_on_when_the_first_pair_exhausts_its_retries(
    api: Any, functions: Any, queues: dict, openai_fake: Any,
) -> None:
    broken, working = models("broken", "working")
    openai_fake.set_down(True, model=broken)
    task_id = task_from_chain(api, broken, working)
    task = run_until_settled(functions, queues, task_id, api, timeout=45)
    assert task["status"] == "succeeded" and task["result"]["text"] == "Echo: Say hello"
    assert (task["result"]["provider"], task["result"]["model"]) == ("openai", working)
    assert (task["provider"], task["model"], task["attempt"]) == ("openai", working, 2)
    assert (calls_for(openai_fake, broken), calls_for(openai_fake, working)) == (3, 1)  # MaxReceiveCount=3
    assert moves(api, task_id) == [{"from": {"provider": "openai", "model": broken},
                                    "to": {"provider": "openai", "model": working},
                                    "reason": "PROVIDER_UNAVAILABLE", "attempt": 2, "retry_in_seconds": 0}]
    assert dead_letters(queues) == 0  # the exhausted pair's message was not dead-lettered: the task moved on
    # The request keeps the chain's first pair (a user's retry starts from it again).
    assert api("GET", f"/api/tasks/{task_id}")[1]["data"]["request_snapshot"]["model"] == broken


def test_when_the_last_pair_is_exhausted_too_the_task_fails_as_before(
    api: Any, functions: Any, queues: dict, openai_fake: Any,
) -> None:
    first, second = models("first", "second")
    openai_fake.set_down(True, model=first)
    openai_fake.set_down(True, model=second)
    task_id = task_from_chain(api, first, second)
    task = run_until_settled(functions, queues, task_id, api, timeout=60)
    assert task["status"] == "failed" and task["error"]["code"] == "RETRIES_EXHAUSTED"
    assert "PROVIDER_UNAVAILABLE" in task["error"]["message"]
    assert (calls_for(openai_fake, first), calls_for(openai_fake, second)) == (3, 3)
    assert [m["to"]["model"] for m in moves(api, task_id)] == [second]
    status, retried, _ = api("POST", f"/api/tasks/{task_id}/retry")
    assert status == 202 and (retried["data"]["model"], retried["data"]["attempt"]) == (first, 3)


def test_a_cooled_down_pair_is_skipped_without_calling_it(
    api: Any, functions: Any, queues: dict, openai_fake: Any, stack: Any,
) -> None:
    cooled, working = models("cooled", "working")
    cool_down(stack, cooled, seconds=60)
    task_id = task_from_chain(api, cooled, working)
    task = run_until_settled(functions, queues, task_id, api)
    assert task["status"] == "succeeded" and task["result"]["model"] == working
    assert (calls_for(openai_fake, cooled), calls_for(openai_fake, working)) == (0, 1)
    assert [(m["from"]["model"], m["to"]["model"], m["reason"]) for m in moves(api, task_id)] == [
        (cooled, working, "COOLDOWN")]


def test_when_every_pair_is_cooled_down_the_task_waits_instead_of_failing(
    api: Any, functions: Any, queues: dict, openai_fake: Any, stack: Any,
) -> None:
    first, second = models("first", "second")
    cool_down(stack, first, seconds=3)
    cool_down(stack, second, seconds=30)
    task_id = task_from_chain(api, first, second)
    task = run_until_settled(functions, queues, task_id, api)
    assert task["status"] == "succeeded" and task["result"]["model"] == first
    assert (calls_for(openai_fake, first), calls_for(openai_fake, second)) == (1, 0)
    waits = moves(api, task_id)
    assert waits[0]["from"] == waits[0]["to"] == {"provider": "openai", "model": first}
    assert waits[0]["reason"] == "COOLDOWN" and 1 <= waits[0]["retry_in_seconds"] <= 4


def test_failures_of_a_pair_across_tasks_cool_it_down(stack: Any) -> None:
    (model,) = models("flaky")
    cooldowns = Cooldowns(stack.resources["Table"], CooldownPolicy(failures=3, window_seconds=60, seconds=60))
    at = 1_800_000_000 // 60 * 60 + 10  # within one window
    assert [cooldowns.failed("openai", model, now=at + i) for i in range(3)] == [False, False, True]
    assert cooldowns.remaining("openai", model, now=at + 2) == 60
    assert cooldowns.remaining("openai", model, now=at + 62) == 0
    (other,) = models("flaky")  # failures in different windows do not add up
    assert [cooldowns.failed("openai", other, now=at + i * 60) for i in range(3)] == [False, False, False]
