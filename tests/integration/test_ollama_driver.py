"""The agent's Ollama driver against the fake Ollama over HTTP, through the official `ollama` client: the neutral
request on Ollama's wire, streamed deltas and usage, closing a stream its consumer gave up on, the error table,
and model operations and inventory."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from localcloud.fakes.ollama_server import FakeOllama
from localcloud.moto_process import free_port
from spoon_agent.ollama_driver import OllamaModels, OllamaText
from spoonfeeder.providers.base import ErrorCode, ProviderError, TextRequest

from tests.conftest import eventually

MODEL = "llama3.2:latest"
HISTORY = [{"role": "user", "content": "my name is Ada"}, {"role": "assistant", "content": "Hello Ada"},
           {"role": "user", "content": "what is my name"}]
SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}}
TIMEOUT = 1.0


@pytest.fixture
def server() -> Iterator[FakeOllama]:
    # A fresh server per test: pulls, deletes and loads change what it holds.
    with FakeOllama(models=(MODEL,), chunk_size=4) as srv:
        srv.timeout_delay = 2 * TIMEOUT
        yield srv


@pytest.fixture
def models(server: FakeOllama) -> OllamaModels:
    return OllamaModels(server.base_url, timeout=TIMEOUT)


def text(server: FakeOllama, endpoint: str = "chat") -> OllamaText:
    return OllamaText(server.base_url, timeout=TIMEOUT, endpoint=endpoint)  # type: ignore[arg-type]


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def raised(call: Callable[[], Any]) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call()
    return caught.value


# ---------------------------------------------------------------------- text and chat
def test_chat_streams_deltas_with_the_system_message_first(server: FakeOllama) -> None:
    deltas: list[str] = []
    request = TextRequest(model=MODEL, messages=HISTORY, system="be brief",
                          options={"temperature": 0.3, "top_p": 0.9, "seed": 7, "stop": ["END"], "max_tokens": 50},
                          provider_options={"num_ctx": 8192, "top_k": 20, "keep_alive": "10m", "think": False})
    result = text(server).stream(request, deltas.append)
    assert result.text == "Echo: what is my name" and "".join(deltas) == result.text and len(deltas) > 2
    # Tokens are words on the fake: 2 system + 4 + 2 + 4 history; the answer has 5.
    assert result.usage == {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
    assert result.finish_reason == "stop"
    sent = server.requests[-1]
    assert sent["path"] == "/api/chat" and sent["json"]["stream"] is True
    assert sent["json"]["messages"] == [{"role": "system", "content": "be brief"}, *HISTORY]
    assert sent["json"]["options"] == {"temperature": 0.3, "top_p": 0.9, "seed": 7, "stop": ["END"],
                                       "num_predict": 50, "num_ctx": 8192, "top_k": 20}
    assert sent["json"]["keep_alive"] == "10m" and sent["json"]["think"] is False
    assert "format" not in sent["json"]
    assert server.loaded == [MODEL]  # keep_alive reached Ollama at the top level
    assert server.aborted_streams == 0


def test_text_uses_generate_with_the_prompt_and_system_apart(server: FakeOllama) -> None:
    request = TextRequest(model="llama3.2", messages=[{"role": "user", "content": "tell me a story"}],
                          system="you are a bard")
    deltas: list[str] = []
    streamed = text(server, "generate").stream(request, deltas.append)
    assert streamed.text == "".join(deltas) == "Echo: tell me a story"
    assert streamed.usage == {"input_tokens": 8, "output_tokens": 5, "total_tokens": 13}
    single = text(server, "generate").generate(request)
    assert single.text == streamed.text and single.usage == streamed.usage and single.finish_reason == "stop"
    first, second = server.requests
    assert first["path"] == second["path"] == "/api/generate"
    assert first["json"]["prompt"] == "tell me a story" and first["json"]["system"] == "you are a bard"
    assert "messages" not in first["json"] and "options" not in first["json"]
    assert first["json"]["stream"] is True and second["json"]["stream"] is False


def test_max_tokens_cuts_the_answer_and_says_length(server: FakeOllama) -> None:
    request = TextRequest(model=MODEL, messages=[{"role": "user", "content": "one two three four"}],
                          options={"max_tokens": 2})
    result = text(server).generate(request)
    assert result.text == "Echo: one" and result.finish_reason == "length"
    assert result.usage is not None and result.usage["output_tokens"] == 2


@pytest.mark.parametrize(("response_format", "sent"), [
    ({"type": "json_object"}, "json"),
    ({"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}, SCHEMA),
])
def test_response_format_becomes_ollama_format(server: FakeOllama, response_format: dict[str, Any],
                                               sent: Any) -> None:
    request = TextRequest(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                          options={"response_format": response_format})
    result = text(server).stream(request, lambda piece: None)
    assert json.loads(result.text) == {"text": "Echo: hi"}
    assert server.requests[-1]["json"]["format"] == sent


def test_a_cancelled_stream_is_closed_and_the_exception_goes_on(server: FakeOllama) -> None:
    class Cancelled(Exception):
        pass

    server.chunk_delay = 0.05
    deltas: list[str] = []

    def on_delta(piece: str) -> None:
        deltas.append(piece)
        if len(deltas) == 2:
            raise Cancelled

    started = time.monotonic()
    request = TextRequest(model=MODEL, messages=[{"role": "user", "content": "word " * 200}])
    with pytest.raises(Cancelled) as caught:
        text(server).stream(request, on_delta)
    assert time.monotonic() - started < 2  # the whole answer would take 250 chunks of 0.05 s
    assert len(deltas) == 2
    # The fake notices the client hung up at its next write, long before the answer's end. (`caught` holds the
    # traceback, so the garbage collector cannot be what closes the client's suspended stream.)
    assert eventually(lambda: server.aborted_streams == 1, timeout=2), caught


def test_list_models_and_connection_test(server: FakeOllama) -> None:
    provider = text(server)
    assert provider.list_models() == [MODEL]
    provider.test_connection()


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(("kind", "code"), [
    ("model_not_found", ErrorCode.MODEL_NOT_FOUND),
    ("bad_request", ErrorCode.BAD_REQUEST),
    ("context_too_long", ErrorCode.CONTEXT_TOO_LONG),
    ("unavailable", ErrorCode.PROVIDER_UNAVAILABLE),
    ("timeout", ErrorCode.TIMEOUT),
])
@pytest.mark.parametrize("streamed", [True, False])
def test_named_faults_map_to_error_codes(server: FakeOllama, kind: str, code: ErrorCode, streamed: bool) -> None:
    server.fail_next(kind=kind)
    provider, request = text(server), TextRequest(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    err = raised(lambda: provider.stream(request, lambda piece: None) if streamed else provider.generate(request))
    assert err.code == code
    assert err.retryable is (code in (ErrorCode.PROVIDER_UNAVAILABLE, ErrorCode.TIMEOUT))
    if kind != "timeout":  # Ollama's own words are kept, with its status
        assert err.details is not None and err.details["provider_status"] in (400, 404, 503)
        assert err.details["provider_message"]


def test_an_unknown_model_is_model_not_found(server: FakeOllama) -> None:
    request = TextRequest(model="mystery:1b", messages=[{"role": "user", "content": "hi"}])
    err = raised(lambda: text(server).stream(request, lambda piece: None))
    assert err.code == ErrorCode.MODEL_NOT_FOUND and not err.retryable and err.status == 404
    assert err.provider_message == 'model "mystery:1b" not found, try pulling it first'


def test_a_server_error_is_unavailable(server: FakeOllama) -> None:
    server.fail_next(status=500, message="llama runner process has terminated")
    err = raised(lambda: text(server).generate(TextRequest(model=MODEL, messages=[{"role": "user", "content": "a"}])))
    assert err.code == ErrorCode.PROVIDER_UNAVAILABLE and err.retryable and err.status == 500
    assert err.provider_message == "llama runner process has terminated"


def test_a_stream_that_breaks_off_is_unavailable(server: FakeOllama) -> None:
    server.break_next_stream("model runner has unexpectedly stopped")
    deltas: list[str] = []
    request = TextRequest(model=MODEL, messages=[{"role": "user", "content": "tell me more"}])
    err = raised(lambda: text(server).stream(request, deltas.append))
    assert deltas == ["Echo"]  # what came before the break was passed on
    assert err.code == ErrorCode.PROVIDER_UNAVAILABLE and err.retryable
    assert err.provider_message == "model runner has unexpectedly stopped" and err.status is None


@pytest.mark.parametrize("streamed", [True, False])
def test_connection_refused_is_unavailable_and_the_url_is_not_told(streamed: bool) -> None:
    url = closed_port_url().replace("http://", "http://admin:s3cret-pass@")
    provider, request = OllamaText(url, timeout=TIMEOUT), TextRequest(model=MODEL, messages=[{"role": "user",
                                                                                            "content": "hi"}])
    err = raised(lambda: provider.stream(request, lambda piece: None) if streamed else provider.generate(request))
    assert err.code == ErrorCode.PROVIDER_UNAVAILABLE and err.retryable
    assert "s3cret" not in json.dumps(err.details) and "s3cret" not in str(err)


# ---------------------------------------------------------------------- inventory
def test_inventory_of_a_running_ollama(models: OllamaModels) -> None:
    assert models.up() and models.version() == "0.12.6"
    (installed,) = models.installed()
    assert installed["name"] == MODEL and installed["size"] > 0 and len(installed["digest"]) == 64
    assert installed["modified_at"].startswith("20") and installed["modified_at"].endswith("Z")
    assert {k: installed[k] for k in ("family", "parameter_size", "quantization_level")} == {
        "family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}
    assert models.loaded() == []
    assert models.has("llama3.2") and models.has(MODEL) and not models.has("llama3.2:1b")
    shown = models.show("llama3.2")
    assert shown["name"] == MODEL and shown["family"] == "llama" and shown["context_length"] == 131072
    assert "completion" in shown["capabilities"]


def test_a_stopped_ollama_is_down_without_raising() -> None:
    models = OllamaModels(closed_port_url(), timeout=TIMEOUT)
    assert models.up() is False
    assert raised(models.installed).code == ErrorCode.PROVIDER_UNAVAILABLE


def test_show_and_delete_of_an_unknown_model(models: OllamaModels) -> None:
    for call in (lambda: models.show("nope:7b"), lambda: models.delete("nope:7b"),
                 lambda: models.load("nope:7b"), lambda: models.unload("nope:7b")):
        err = raised(call)
        assert err.code == ErrorCode.MODEL_NOT_FOUND and not err.retryable and err.status == 404


def test_load_unload_delete_change_the_inventory(models: OllamaModels, server: FakeOllama) -> None:
    assert models.load("llama3.2", keep_alive="10m") == {"done_reason": "load", "keep_alive": "10m"}
    (loaded,) = models.loaded()
    assert loaded["name"] == MODEL and loaded["size_vram"] > 0 and loaded["expires_at"].endswith("Z")
    assert models.unload(MODEL) == {"done_reason": "unload"}
    assert models.loaded() == [] and server.loaded == []
    assert models.delete("llama3.2") == {"status": "success"}
    assert models.installed() == [] and server.installed == []


def test_a_model_name_is_required(models: OllamaModels) -> None:
    assert raised(lambda: models.load("")).code == ErrorCode.BAD_REQUEST


# ---------------------------------------------------------------------- pull
def test_pull_reports_progress_to_100_and_installs(server: FakeOllama) -> None:
    models = OllamaModels(server.base_url, timeout=TIMEOUT, progress_every=0)
    events: list[dict[str, Any]] = []
    detail = models.pull("qwen2.5:0.5b", events.append)
    assert events[0] == {"status": "pulling manifest", "completed": 0, "total": 0, "percent": 0}
    assert events[-1]["status"] == "success" and events[-1]["percent"] == 100
    assert events[-1]["completed"] == events[-1]["total"] == detail["total"] > 0
    layers = [e for e in events if "digest" in e]
    assert len({e["digest"] for e in layers}) == 3
    for event in layers:
        assert event["percent"] == event["completed"] * 100 // event["total"]
    assert sum(e["total"] for e in layers if e["percent"] == 100) == detail["total"]
    assert detail == {"status": "success", "total": detail["total"]}
    assert "qwen2.5:0.5b" in server.installed and models.has("qwen2.5:0.5b")
    assert server.aborted_streams == 0  # read to its end


def test_pull_progress_is_coalesced(server: FakeOllama) -> None:
    models = OllamaModels(server.base_url, timeout=TIMEOUT, progress_every=60)
    events: list[dict[str, Any]] = []
    models.pull("gemma3:1b", events.append)
    # The first line, each layer's completion, each new phase and the end: not the 12 intermediate lines.
    assert [e["status"] for e in events if "digest" not in e] == [
        "pulling manifest", "verifying sha256 digest", "writing manifest", "success"]
    assert [e["percent"] for e in events if "digest" in e] == [100, 100, 100]


def test_pull_of_an_unknown_model(models: OllamaModels, server: FakeOllama) -> None:
    err = raised(lambda: models.pull("no-such-model:9b", lambda progress: None))
    assert err.code == ErrorCode.MODEL_NOT_FOUND and not err.retryable
    assert "file does not exist" in (err.provider_message or "")
    assert server.installed == [MODEL]


def test_a_cancelled_pull_stops_and_installs_nothing(server: FakeOllama) -> None:
    class Cancelled(Exception):
        pass

    server.chunk_delay = 0.05
    models = OllamaModels(server.base_url, timeout=TIMEOUT, progress_every=0)
    events: list[dict[str, Any]] = []

    def on_progress(progress: dict[str, Any]) -> None:
        events.append(progress)
        if len(events) == 2:
            raise Cancelled

    with pytest.raises(Cancelled) as caught:
        models.pull("mistral", on_progress)
    assert eventually(lambda: server.aborted_streams == 1, timeout=2), caught  # not the garbage collector

    assert server.installed == [MODEL]
