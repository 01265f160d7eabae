"""Text and chat tasks on OpenAI, Anthropic and Gemini, as a user sees them: deltas live over the WebSocket,
then the result with its text and token usage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import User, receive

pytestmark = pytest.mark.e2e
PROVIDERS = ("openai", "anthropic", "gemini")
HISTORY = [{"role": "user", "content": "my name is Ada"}, {"role": "assistant", "content": "Hello Ada"},
           {"role": "user", "content": "please say my name back to me slowly"}]


@pytest.fixture
def fakes(openai: Any, other_providers: dict[str, Any]) -> dict[str, Any]:
    for fake in other_providers.values():
        fake.reset()
    fakes = {"openai": openai, **other_providers}
    for fake in fakes.values():
        fake.chunk_delay = 0.08  # slow enough for the answer to arrive in several deltas
    yield fakes
    for fake in fakes.values():
        fake.chunk_delay = 0.0


def _watch(user: User, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create a task while subscribed to the user's events; returns the finished task and its pushed events."""
    with user.socket() as ws:
        ws.send(json.dumps({"action": "subscribe", "topic": f"owner:{user.id}"}))
        receive(ws, lambda m: m["type"] == "subscribed")
        created = user.call("POST", "/tasks", json=body)
        assert created.status_code == 201, created.text
        task_id = created.json()["data"]["id"]
        messages = receive(ws, lambda m: m.get("type") == "event" and m["event"]["task_id"] == task_id
                           and m["event"]["type"] in ("task:completed", "task:failed"))
    events = [m["event"] for m in messages if m["type"] == "event" and m["event"]["task_id"] == task_id]
    return user.call("GET", f"/tasks/{task_id}").json()["data"], events


def _streamed_and_completed(task: dict[str, Any], events: list[dict[str, Any]], expected: str) -> None:
    types = [e["type"] for e in events]
    assert types[:3] == ["task:created", "task:queued", "task:started"] and types[-1] == "task:completed"
    deltas = [e["data"]["text"] for e in events if e["type"] == "task:delta"]
    assert len(deltas) >= 2 and "".join(deltas) == expected
    assert task["status"] == "succeeded" and task["result"]["text"] == expected
    usage = task["result"]["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] == len(expected.split())
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert task["metadata"] == {}  # a configured provider, not a simulated one


@pytest.mark.parametrize("vendor", PROVIDERS)
def test_a_text_task_streams_and_completes(alice: User, fakes: dict[str, Any], vendor: str) -> None:
    prompt = "write a few words about spoons and forks"
    task, events = _watch(alice, {"type": "text", "provider": vendor, "prompt": prompt})
    _streamed_and_completed(task, events, f"Echo: {prompt}")
    assert fakes[vendor].chat_calls == 1


@pytest.mark.parametrize("vendor", PROVIDERS)
def test_a_chat_task_with_history_streams_and_completes(alice: User, fakes: dict[str, Any], vendor: str) -> None:
    body = {"type": "chat", "provider": vendor, "system": "You are terse.", "messages": HISTORY}
    task, events = _watch(alice, body)
    _streamed_and_completed(task, events, f"Echo: {HISTORY[-1]['content']}")
    assert task["input"] == {"system": "You are terse.", "messages": HISTORY}
    # The history and the system prompt each counted as input: more than the last message alone.
    assert task["result"]["usage"]["input_tokens"] == sum(len(m["content"].split()) for m in HISTORY) + 3
