"""The fake OpenAI server must be indistinguishable from the real API to the official SDK."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from localcloud.fakes.openai_server import FakeOpenAI
from openai import OpenAI

KEY = "sk-test-0123456789abcd1234"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY, chunk_size=5) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(server: FakeOpenAI) -> None:
    server.reset()


@pytest.fixture
def client(server: FakeOpenAI) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)


def _ask(client: OpenAI, text: str = "hello there world") -> str | None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    )
    return completion.choices[0].message.content


def test_base_url_ends_with_v1(server: FakeOpenAI) -> None:
    assert server.base_url.endswith("/v1")
    assert server.port > 0


def test_non_streaming_completion(client: OpenAI, server: FakeOpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there world"},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o-mini"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Echo: hello there world"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 5
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == 9
    assert server.chat_calls == 1
    recorded = server.requests[0]
    assert recorded["method"] == "POST" and recorded["path"] == "/v1/chat/completions"
    assert recorded["json"]["model"] == "gpt-4o-mini"
    assert all(k.lower() != "authorization" for k in recorded["headers"])


def test_streaming_deltas_and_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream me a fairly long answer please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    content_chunks = [c for c in chunks if c.choices]
    assert content_chunks[0].choices[0].delta.role == "assistant"
    assert content_chunks[-1].choices[0].finish_reason == "stop"
    deltas = [c.choices[0].delta.content for c in content_chunks if c.choices[0].delta.content]
    assert len(deltas) > 1
    assert "".join(deltas) == "Echo: stream me a fairly long answer please"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 8


def test_streaming_without_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: hi"


def test_wrong_key_is_401(server: FakeOpenAI) -> None:
    bad = OpenAI(base_url=server.base_url, api_key="sk-wrong-key-98765432", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        _ask(bad)
    assert info.value.code == "invalid_api_key"
    assert "sk-wrong-key-98765432" not in info.value.message
    assert "5432" in info.value.message


def test_rate_limit_twice_then_success(client: OpenAI, server: FakeOpenAI) -> None:
    server.fail_next(status=429, times=2, retry_after=1)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as info:
            _ask(client)
        assert info.value.response.headers["retry-after"] == "1"
        assert info.value.code == "rate_limit_exceeded"
    assert _ask(client) == "Echo: hello there world"
    assert server.chat_calls == 3


def test_server_error(client: OpenAI, server: FakeOpenAI) -> None:
    server.fail_next(status=500)
    with pytest.raises(openai.InternalServerError) as info:
        _ask(client)
    assert info.value.type == "server_error"
    assert _ask(client) == "Echo: hello there world"


def test_down_until_restored(client: OpenAI, server: FakeOpenAI) -> None:
    server.set_down(True)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as info:
            _ask(client)
        assert info.value.status_code == 503
    server.set_down(False)
    assert _ask(client) == "Echo: hello there world"


def test_missing_messages_is_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.post("/chat/completions", body={"model": "gpt-4o-mini"}, cast_to=object)
    assert info.value.type == "invalid_request_error"
    assert info.value.param == "messages"


def test_models_list(client: OpenAI, server: FakeOpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == server.models
