"""Each provider adapter against its provider's fake, through the provider's official SDK: the neutral request
mapped to the wire format, streamed deltas, neutral usage, and every row of the error table."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from localcloud.fakes.anthropic_server import FakeAnthropic
from localcloud.fakes.base import FAULT_KINDS, FakeServer
from localcloud.fakes.gemini_server import FakeGemini
from localcloud.fakes.openai_server import FakeOpenAI
from spoonfeeder.models.kinds import Provider
from spoonfeeder.providers import registry
from spoonfeeder.providers.base import RETRYABLE, Credentials, ErrorCode, ProviderError, TextProvider, TextRequest

FAKES: dict[str, type[FakeServer]] = {"openai": FakeOpenAI, "anthropic": FakeAnthropic, "gemini": FakeGemini}
KEYS = {"openai": "sk-test-adapter-000000001234", "anthropic": "sk-ant-test-adapter-0001",
        "gemini": "AIza-test-adapter"}
HISTORY = [{"role": "user", "content": "my name is Ada"}, {"role": "assistant", "content": "Hello Ada"},
           {"role": "user", "content": "what is my name"}]
SCHEMA = {"type": "json_schema",
          "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"text": {"type": "string"}}}}}
#: The named fault the fakes send as each provider would, and the code its error table must give.
EXPECTED = {"invalid_key": ErrorCode.INVALID_API_KEY, "permission_denied": ErrorCode.PERMISSION_DENIED,
            "rate_limited": ErrorCode.RATE_LIMITED, "bad_request": ErrorCode.BAD_REQUEST,
            "context_too_long": ErrorCode.CONTEXT_TOO_LONG, "content_filtered": ErrorCode.CONTENT_FILTERED,
            "model_not_found": ErrorCode.MODEL_NOT_FOUND, "unavailable": ErrorCode.PROVIDER_UNAVAILABLE,
            "timeout": ErrorCode.TIMEOUT}
TIMEOUT = 1.0  # the adapters' timeout here: the `timeout` fault answers later than this


# How each provider's wire request carries the parts of the neutral request.
def _system(provider: str, sent: dict[str, Any]) -> str | None:
    if provider == "openai":
        first = sent["messages"][0]
        return first["content"] if first["role"] == "system" else None
    if provider == "anthropic":
        return sent.get("system")
    return " ".join(p["text"] for p in (sent.get("systemInstruction") or {}).get("parts", [])) or None


def _turns(provider: str, sent: dict[str, Any]) -> list[tuple[str, str]]:
    if provider == "gemini":
        roles = {"user": "user", "model": "assistant"}
        return [(roles[c["role"]], c["parts"][0]["text"]) for c in sent["contents"]]
    return [(m["role"], m["content"]) for m in sent["messages"] if m["role"] != "system"]


@pytest.fixture(scope="module", params=sorted(FAKES))
def fake(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeServer]]:
    with FAKES[request.param](api_key=KEYS[request.param], chunk_size=4) as server:
        yield request.param, server


@pytest.fixture
def provider(fake: tuple[str, FakeServer]) -> tuple[str, FakeServer, TextProvider]:
    name, server = fake
    server.reset()
    adapter = registry.text_provider(Provider(name), Credentials(KEYS[name], server.base_url), timeout=TIMEOUT)
    return name, server, adapter


def _ask(messages: list[dict[str, str]] | None = None, **kw: Any) -> TextRequest:
    return TextRequest(model="model-x", messages=messages or [{"role": "user", "content": "hello there world"}], **kw)


def test_streams_deltas_and_returns_text_with_neutral_usage(provider: Any) -> None:
    _, _, adapter = provider
    deltas: list[str] = []
    result = adapter.stream(_ask(), deltas.append)
    assert result.text == "Echo: hello there world" == "".join(deltas) and len(deltas) > 1
    # The fakes count words: 3 given, 4 answered.
    assert result.usage == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    assert result.finish_reason in ("stop", "end_turn", "STOP")


def test_chat_history_and_system_prompt_reach_the_provider_in_its_format(provider: Any) -> None:
    name, server, adapter = provider
    result = adapter.stream(_ask(HISTORY, system="Answer in one word."), lambda text: None)
    assert result.text == "Echo: what is my name"
    sent = server.requests[-1]["json"]
    assert _system(name, sent) == "Answer in one word."
    assert _turns(name, sent) == [(m["role"], m["content"]) for m in HISTORY]


def test_json_schema_output_is_asked_for_in_the_providers_way(provider: Any) -> None:
    name, server, adapter = provider
    result = adapter.stream(_ask(options={"response_format": SCHEMA}), lambda text: None)
    assert json.loads(result.text) == {"text": "Echo: hello there world"}
    sent = server.requests[-1]["json"]
    schema = SCHEMA["json_schema"]["schema"]
    asked = {"openai": lambda: sent["response_format"] == SCHEMA,
             "anthropic": lambda: sent["output_config"] == {"format": {"type": "json_schema", "schema": schema}},
             "gemini": lambda: sent["generationConfig"]["responseJsonSchema"] == schema
             and sent["generationConfig"]["responseMimeType"] == "application/json"}
    assert asked[name]()


def test_json_object_on_anthropic_is_an_instruction_not_a_parameter() -> None:
    with FakeAnthropic() as server:
        adapter = registry.text_provider(Provider.ANTHROPIC, Credentials("k", server.base_url), timeout=TIMEOUT)
        adapter.stream(_ask(system="Be kind.", options={"response_format": {"type": "json_object"}}),
                       lambda text: None)
        sent = server.requests[-1]["json"]
    assert sent["system"].startswith("Be kind.") and "JSON object" in sent["system"]
    assert "output_config" not in sent and "response_format" not in sent


def test_options_and_provider_options_use_each_providers_names(provider: Any) -> None:
    name, server, adapter = provider
    own = {"openai": {"frequency_penalty": 0.5, "user": "u-1"},
           "anthropic": {"metadata": {"user_id": "u-1"}, "effort": "low"},
           "gemini": {"top_k": 7, "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                        "threshold": "BLOCK_ONLY_HIGH"}]}}[name]
    sampling = {} if name == "anthropic" else {"temperature": 0.3}  # Anthropic's API has no sampling options
    adapter.stream(_ask(options={**sampling, "max_tokens": 50, "stop": ["END"]}, provider_options=own),
                   lambda text: None)
    sent = server.requests[-1]["json"]
    if name == "openai":
        assert (sent["temperature"], sent["max_tokens"], sent["stop"]) == (0.3, 50, ["END"])
        assert (sent["frequency_penalty"], sent["user"]) == (0.5, "u-1")
    elif name == "anthropic":
        assert (sent["max_tokens"], sent["stop_sequences"], sent["metadata"]) == (50, ["END"], {"user_id": "u-1"})
        assert sent["output_config"] == {"effort": "low"}
    else:
        config = sent["generationConfig"]
        assert (config["temperature"], config["maxOutputTokens"], config["stopSequences"], config["topK"]) == (
            0.3, 50, ["END"], 7)
        assert sent["safetySettings"] == own["safety_settings"]


def test_anthropic_gets_a_max_tokens_when_the_task_gives_none() -> None:
    from spoonfeeder.providers.anthropic_adapter import DEFAULT_MAX_TOKENS

    with FakeAnthropic() as server:
        adapter = registry.text_provider(Provider.ANTHROPIC, Credentials("k", server.base_url), timeout=TIMEOUT)
        adapter.stream(_ask(), lambda text: None)
        assert server.requests[-1]["json"]["max_tokens"] == DEFAULT_MAX_TOKENS


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_error_row_gives_its_code_and_retryability(provider: Any, kind: str) -> None:
    _, server, adapter = provider
    server.fail_next(kind=kind)
    with pytest.raises(ProviderError) as raised:
        adapter.stream(_ask(), lambda text: None)
    err = raised.value
    assert err.code == EXPECTED[kind]
    assert err.retryable is (EXPECTED[kind] in RETRYABLE)
    if kind not in ("timeout", "content_filtered"):  # those have no HTTP error: the others keep the provider's
        assert err.details is not None and err.details["provider_status"] >= 400 and err.details["provider_message"]
    assert server.chat_calls == 1  # the SDK retried nothing


def test_retry_after_is_honoured_from_each_providers_answer(provider: Any) -> None:
    _, server, adapter = provider
    server.fail_next(kind="rate_limited", retry_after=7)
    with pytest.raises(ProviderError) as raised:
        adapter.stream(_ask(), lambda text: None)
    assert raised.value.code == ErrorCode.RATE_LIMITED and raised.value.retry_after == 7


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_provider_unavailable_and_retryable(provider: Any, status: int) -> None:
    _, server, adapter = provider
    server.fail_next(status=status)
    with pytest.raises(ProviderError) as raised:
        adapter.stream(_ask(), lambda text: None)
    assert (raised.value.code, raised.value.retryable, raised.value.status) == (
        ErrorCode.PROVIDER_UNAVAILABLE, True, status)


def test_anthropic_overloaded_529_is_provider_unavailable() -> None:
    with FakeAnthropic() as server:
        server.fail_next(status=529)
        adapter = registry.text_provider(Provider.ANTHROPIC, Credentials("k", server.base_url), timeout=TIMEOUT)
        with pytest.raises(ProviderError) as raised:
            adapter.stream(_ask(), lambda text: None)
    assert (raised.value.code, raised.value.retryable) == (ErrorCode.PROVIDER_UNAVAILABLE, True)


def test_anthropic_overloaded_in_the_middle_of_a_stream_is_retryable() -> None:
    with FakeAnthropic() as server:
        server.break_next_stream("overloaded_error")
        adapter = registry.text_provider(Provider.ANTHROPIC, Credentials("k", server.base_url), timeout=TIMEOUT)
        deltas: list[str] = []
        with pytest.raises(ProviderError) as raised:
            adapter.stream(_ask(), deltas.append)
    assert deltas and "".join(deltas) != "Echo: hello there world"  # it broke off after the first text
    assert (raised.value.code, raised.value.retryable) == (ErrorCode.PROVIDER_UNAVAILABLE, True)
    assert raised.value.details is not None and raised.value.details["provider_message"] == "Overloaded"


def test_an_unreachable_provider_is_provider_unavailable_and_retryable(fake: Any) -> None:
    name, _ = fake
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = FAKES[name](port=closed.getsockname()[1]).base_url
    adapter = registry.text_provider(Provider(name), Credentials(KEYS[name], url), timeout=TIMEOUT)
    with pytest.raises(ProviderError) as raised:
        adapter.stream(_ask(), lambda text: None)
    assert (raised.value.code, raised.value.retryable) == (ErrorCode.PROVIDER_UNAVAILABLE, True)


def test_a_wrong_key_is_invalid_api_key_and_no_part_of_it_is_kept(fake: Any) -> None:
    name, server = fake
    wrong = {"openai": "sk-wrong-key-9999999999999", "anthropic": "sk-ant-wrong-9999",
             "gemini": "AIza-wrong-9999"}[name]
    adapter = registry.text_provider(Provider(name), Credentials(wrong, server.base_url), timeout=TIMEOUT)
    calls: list[Callable[[], object]] = [adapter.list_models, lambda: adapter.stream(_ask(), lambda text: None)]
    for call in calls:
        with pytest.raises(ProviderError) as raised:
            call()
        assert raised.value.code == ErrorCode.INVALID_API_KEY and not raised.value.retryable
        assert "9999" not in json.dumps(raised.value.details) and wrong not in str(raised.value)


def test_models_are_listed_with_the_right_key(provider: Any) -> None:
    _, server, adapter = provider
    assert adapter.list_models() == server.models
    adapter.test_connection()
