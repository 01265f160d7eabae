"""Text and chat tasks on every cloud provider, through the API and the LLM worker (moto's SQS and DynamoDB),
answered by each provider's fake through its official SDK."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.test_llm_worker import events_of, run_until_settled

PROVIDERS = ("openai", "anthropic", "gemini")
HISTORY = [{"role": "user", "content": "my name is Ada"}, {"role": "assistant", "content": "Hello Ada"},
           {"role": "user", "content": "what is my name"}]


@pytest.fixture
def fakes(provider_fakes: dict[str, Any]) -> dict[str, Any]:
    for fake in provider_fakes.values():
        fake.reset()
    return provider_fakes


def _create(api: Any, body: dict[str, Any], user: str = "user-a") -> str:
    status, answer, _ = api("POST", "/api/tasks", body=body, user=user)
    assert status == 201, answer
    return str(answer["data"]["id"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_text_task_streams_and_completes_with_text_and_usage(
        api: Any, functions: Any, queues: dict, fakes: dict, provider: str) -> None:
    fake = fakes[provider]
    fake.chunk_delay = 0.05  # slow enough to be coalesced into several deltas
    try:
        task_id = _create(api, {"type": "text", "provider": provider, "prompt": "tell me a story " * 6})
        task = run_until_settled(functions, queues, task_id, api)
    finally:
        fake.chunk_delay = 0.0
    assert task["status"] == "succeeded", task["error"]
    assert task["result"]["text"] == "Echo: " + "tell me a story " * 6
    usage = task["result"]["usage"]
    assert usage["input_tokens"] == 24 and usage["output_tokens"] == 25 and usage["total_tokens"] == 49
    deltas = [e["data"]["text"] for e in events_of(api, task_id) if e["type"] == "task:delta"]
    assert len(deltas) >= 2 and "".join(deltas) == task["result"]["text"]
    assert task["input"] == {"prompt": "tell me a story " * 6}
    assert task["request_snapshot"]["messages"] == [{"role": "user", "content": "tell me a story " * 6}]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_chat_task_sends_its_history_and_system_prompt(
        api: Any, functions: Any, queues: dict, fakes: dict, provider: str) -> None:
    body = {"type": "chat", "provider": provider, "system": "Answer briefly.", "messages": HISTORY,
            "options": {"max_tokens": 64}}
    task = run_until_settled(functions, queues, _create(api, body), api)
    assert task["status"] == "succeeded" and task["result"]["text"] == "Echo: what is my name"
    assert task["input"] == {"system": "Answer briefly.", "messages": HISTORY}
    sent = fakes[provider].requests[-1]["json"]
    turns = sent.get("messages") or sent.get("contents")
    assert len([t for t in turns if t.get("role") != "system"]) == 3  # the whole history reached the provider


@pytest.mark.parametrize("provider", PROVIDERS)
def test_json_output_is_json(api: Any, functions: Any, queues: dict, fakes: dict, provider: str) -> None:
    response_format = {"type": "json_schema", "json_schema": {
        "name": "reply", "schema": {"type": "object", "properties": {"text": {"type": "string"}},
                                    "required": ["text"], "additionalProperties": False}}}
    body = {"type": "text", "provider": provider, "prompt": "hi", "options": {"response_format": response_format}}
    task = run_until_settled(functions, queues, _create(api, body), api)
    assert task["status"] == "succeeded" and task["result"]["text"] == '{"text": "Echo: hi"}'
    assert task["options"]["response_format"] == response_format


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_non_retryable_error_fails_at_once_with_the_providers_words(
        api: Any, functions: Any, queues: dict, fakes: dict, provider: str) -> None:
    fakes[provider].fail_next(kind="context_too_long")
    task = run_until_settled(functions, queues, _create(api, {"type": "text", "provider": provider,
                                                              "prompt": "a very long text"}), api)
    error = task["error"]
    assert task["status"] == "failed" and error["code"] == "CONTEXT_TOO_LONG" and error["retryable"] is False
    assert error["details"]["provider_status"] == 400 and error["details"]["provider_message"]
    assert fakes[provider].chat_calls == 1
    assert "task:retrying" not in [e["type"] for e in events_of(api, task["id"])]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_content_filtered_answer_fails_the_task(
        api: Any, functions: Any, queues: dict, fakes: dict, provider: str) -> None:
    fakes[provider].fail_next(kind="content_filtered")
    task = run_until_settled(functions, queues, _create(api, {"type": "text", "provider": provider,
                                                              "prompt": "something"}), api)
    assert task["status"] == "failed" and task["error"]["code"] == "CONTENT_FILTERED"
    assert fakes[provider].chat_calls == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rate_limit_is_retried_after_the_providers_delay_then_succeeds(
        api: Any, functions: Any, queues: dict, fakes: dict, provider: str) -> None:
    fakes[provider].fail_next(kind="rate_limited", retry_after=1)
    task = run_until_settled(functions, queues, _create(api, {"type": "text", "provider": provider,
                                                              "prompt": "again"}), api)
    assert task["status"] == "succeeded" and task["result"]["text"] == "Echo: again"
    retrying = [e for e in events_of(api, task["id"]) if e["type"] == "task:retrying"]
    assert len(retrying) == 1 and retrying[0]["data"]["error"]["code"] == "RATE_LIMITED"
    assert retrying[0]["data"]["retry_in_seconds"] >= 1 and fakes[provider].chat_calls == 2


BAD_BODIES = {
    "chat without messages": {"type": "chat", "provider": "openai", "prompt": "hi"},
    "text with messages": {"type": "text", "provider": "openai", "prompt": "hi",
                           "messages": [{"role": "user", "content": "hi"}]},
    "chat ending with the assistant": {"type": "chat", "provider": "gemini", "messages": HISTORY[:2]},
    "a system role in messages": {"type": "chat", "provider": "openai",
                                  "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]},
    "an empty message": {"type": "chat", "provider": "openai", "messages": [{"role": "user", "content": ""}]},
    "too many messages": {"type": "chat", "provider": "openai",
                          "messages": [{"role": "user", "content": "x"}] * 101},
    "anthropic with a seed": {"type": "text", "provider": "anthropic", "prompt": "hi", "options": {"seed": 1}},
    "anthropic with a temperature": {"type": "text", "provider": "anthropic", "prompt": "hi",
                                     "options": {"temperature": 0.5}},
    "another provider's option": {"type": "text", "provider": "anthropic", "prompt": "hi",
                                  "provider_options": {"frequency_penalty": 1}},
    "an unknown provider option": {"type": "text", "provider": "openai", "prompt": "hi",
                                   "provider_options": {"logprobs": True}},
    "an option out of range": {"type": "text", "provider": "gemini", "prompt": "hi",
                               "provider_options": {"top_k": 0}},
    "an unknown safety category": {"type": "text", "provider": "gemini", "prompt": "hi", "provider_options": {
        "safety_settings": [{"category": "HARM_CATEGORY_NONE", "threshold": "OFF"}]}},
    "an unknown response format": {"type": "text", "provider": "openai", "prompt": "hi",
                                   "options": {"response_format": {"type": "xml"}}},
    "a schema too large": {"type": "text", "provider": "openai", "prompt": "hi", "options": {"response_format": {
        "type": "json_schema", "json_schema": {"name": "big", "schema": {"description": "x" * 17_000}}}}},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_input_is_a_400_and_writes_nothing(api: Any, body: dict[str, Any]) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    status, answer, _ = api("POST", "/api/tasks", body=body, user=user)
    assert status == 400 and answer["success"] is False and answer["error"]["code"] == "VALIDATION_ERROR"
    assert api("GET", "/api/tasks", user=user)[1]["data"] == []


def test_system_and_messages_count_against_the_input_limit(api: Any, stack: Any) -> None:
    from spoonfeeder.settings import ApiSettings

    limit = ApiSettings.__dataclass_fields__["max_prompt_bytes"].default
    user = f"user-{uuid.uuid4().hex[:8]}"
    half = "é" * (limit // 4 + 1)  # two bytes each: each text alone is within the limit, together they are not
    body = {"type": "chat", "provider": "openai", "system": half[:10_000],
            "messages": [{"role": "user", "content": half}, {"role": "assistant", "content": "ok"},
                         {"role": "user", "content": half}]}
    status, answer, _ = api("POST", "/api/tasks", body=body, user=user)
    assert status == 413 and answer["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert answer["error"]["details"]["bytes"] > limit
    assert api("GET", "/api/tasks", user=user)[1]["data"] == []
