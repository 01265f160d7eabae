"""The fake Ollama server must be indistinguishable from a real Ollama to the official `ollama` client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import ollama
import pytest
from localcloud.fakes.ollama_server import FakeOllama, keep_alive_of

MODEL = "llama3.2:latest"


@pytest.fixture
def server() -> Iterator[FakeOllama]:
    # A fresh server per test: pulls, deletes and loads change what it holds.
    with FakeOllama(models=(MODEL,), chunk_size=4) as srv:
        yield srv


@pytest.fixture
def client(server: FakeOllama) -> ollama.Client:
    return ollama.Client(host=server.base_url)


def test_root_and_version(server: FakeOllama) -> None:
    assert httpx.get(server.base_url + "/").text == "Ollama is running"
    version = httpx.get(server.base_url + "/api/version").json()["version"]
    assert [int(part) for part in version.split(".")] >= [0, 1, 0]


def test_list_shows_installed_models(client: ollama.Client) -> None:
    models = client.list().models
    assert [m.model for m in models] == [MODEL]
    assert models[0].size and models[0].size > 0
    assert models[0].details is not None and models[0].details.format == "gguf"


def test_show_details_and_unknown_model(client: ollama.Client) -> None:
    shown = client.show("llama3.2")  # a bare name means its latest tag
    assert "FROM llama3.2:latest" in (shown.modelfile or "")
    assert shown.capabilities is not None and "completion" in shown.capabilities
    assert shown.modelinfo is not None and "general.architecture" in shown.modelinfo
    with pytest.raises(ollama.ResponseError) as caught:
        client.show("nope:7b")
    assert caught.value.status_code == 404
    assert caught.value.error == "model 'nope:7b' not found"


def test_pull_streams_progress_then_installs(client: ollama.Client, server: FakeOllama) -> None:
    progress = list(client.pull("qwen2.5:0.5b", stream=True))
    assert progress[0].status == "pulling manifest"
    assert progress[-1].status == "success"
    by_digest: dict[str, list[int]] = {}
    for part in progress:
        if part.digest:
            assert part.total and part.total > 0
            by_digest.setdefault(part.digest, []).append(part.completed or 0)
    assert len(by_digest) >= 2
    for digest, completed in by_digest.items():
        assert completed == sorted(completed) and completed[0] < completed[-1], digest
        total = next(p.total for p in progress if p.digest == digest)
        assert completed[-1] == total
    assert "qwen2.5:0.5b" in [m.model for m in client.list().models]
    assert server.installed == sorted([MODEL, "qwen2.5:0.5b"])


def test_pull_without_stream_answers_once(client: ollama.Client) -> None:
    assert client.pull("gemma3:1b").status == "success"
    assert "gemma3:1b" in [m.model for m in client.list().models]


def test_pull_of_a_model_the_registry_lacks(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as streamed:
        list(client.pull("no-such-model:9b", stream=True))
    assert streamed.value.status_code == -1  # an error line inside the stream
    assert "file does not exist" in streamed.value.error
    with pytest.raises(ollama.ResponseError) as single:
        client.pull("no-such-model:9b")
    assert single.value.status_code == 500
    assert [m.model for m in client.list().models] == [MODEL]


def test_chat_streams_the_echo_with_final_counts(client: ollama.Client) -> None:
    parts = list(client.chat(MODEL, messages=[{"role": "system", "content": "be brief"},
                                              {"role": "user", "content": "hello there world"}], stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert len(parts) > 2  # really streamed, in pieces
    assert "".join(p.message.content or "" for p in parts) == "Echo: hello there world"
    final = parts[-1]
    assert final.done_reason == "stop"
    assert final.prompt_eval_count == 5 and final.eval_count == 4
    assert final.total_duration and final.eval_duration and final.total_duration >= final.eval_duration


def test_chat_without_stream(client: ollama.Client) -> None:
    answer = client.chat(MODEL, messages=[{"role": "user", "content": "hi"}])
    assert answer.done and answer.message.role == "assistant"
    assert answer.message.content == "Echo: hi" and answer.eval_count == 2


def test_generate_streams_and_single(client: ollama.Client, server: FakeOllama) -> None:
    parts = list(client.generate(MODEL, prompt="tell me a story", stream=True))
    assert "".join(p.response for p in parts) == "Echo: tell me a story"
    assert parts[-1].done and parts[-1].done_reason == "stop"
    assert parts[-1].prompt_eval_count == 4 and parts[-1].eval_count == 5 and parts[-1].context
    single = client.generate(MODEL, prompt="tell me a story")
    assert single.response == "Echo: tell me a story"
    assert single.load_duration is None  # already loaded by the first call: no load time
    assert [r["path"] for r in server.requests] == ["/api/generate", "/api/generate"]


def test_generate_honours_num_predict_and_json_format(client: ollama.Client) -> None:
    cut = client.generate(MODEL, prompt="one two three four", options={"num_predict": 2})
    assert cut.response == "Echo: one" and cut.done_reason == "length"
    structured = client.generate(MODEL, prompt="hi", format="json")
    assert json.loads(structured.response) == {"text": "Echo: hi"}


def test_keep_alive_loads_and_unloads(client: ollama.Client) -> None:
    assert client.ps().models == []
    loaded = client.generate(MODEL, prompt="", keep_alive="10m")
    assert loaded.done and loaded.done_reason == "load" and loaded.response == ""
    running = client.ps().models
    assert [m.model for m in running] == [MODEL] and running[0].expires_at is not None
    unloaded = client.chat(MODEL, messages=[], keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert client.ps().models == []


def test_ps_orders_by_longest_keep_alive(client: ollama.Client) -> None:
    client.pull("gemma3:1b")
    client.generate(MODEL, keep_alive="1m")
    client.generate("gemma3:1b", keep_alive=-1)  # forever
    assert [m.model for m in client.ps().models] == ["gemma3:1b", MODEL]


def test_delete_then_404(client: ollama.Client) -> None:
    client.generate(MODEL, keep_alive="5m")
    assert client.delete(MODEL).status == "success"
    assert client.list().models == [] and client.ps().models == []
    with pytest.raises(ollama.ResponseError) as again:
        client.delete(MODEL)
    assert again.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as chat:
        client.chat(MODEL, messages=[{"role": "user", "content": "hi"}])
    assert chat.value.status_code == 404


def test_unknown_model_error(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.generate("mystery:1b", prompt="hi")
    assert caught.value.status_code == 404
    assert caught.value.error == 'model "mystery:1b" not found, try pulling it first'
    assert "(status code: 404)" in str(caught.value)


def test_bad_requests_get_ollama_errors(server: FakeOllama) -> None:
    missing = httpx.post(server.base_url + "/api/chat", json={"messages": []})
    assert missing.status_code == 400 and missing.json() == {"error": "model is required"}
    empty = httpx.post(server.base_url + "/api/generate", content=b"")
    assert empty.status_code == 400 and empty.json() == {"error": "missing request body"}
    duration = httpx.post(server.base_url + "/api/generate", json={"model": MODEL, "keep_alive": "soon"})
    assert duration.status_code == 400 and "invalid duration" in duration.json()["error"]


def test_scripted_fault_then_recovery(client: ollama.Client, server: FakeOllama) -> None:
    server.fail_next(kind="unavailable")
    with pytest.raises(ollama.ResponseError) as busy:
        client.chat(MODEL, messages=[{"role": "user", "content": "hi"}])
    assert busy.value.status_code == 503 and "server busy" in busy.value.error
    assert client.chat(MODEL, messages=[{"role": "user", "content": "hi"}]).message.content == "Echo: hi"


def test_stream_lines_are_compact_ndjson(server: FakeOllama) -> None:
    response = httpx.post(server.base_url + "/api/chat",
                          json={"model": MODEL, "messages": [{"role": "user", "content": "a b"}]})
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.split("\n")
    assert lines[-1] == "" and all(lines[:-1])  # no blank line anywhere
    assert json.loads(lines[-2])["done"] is True


@pytest.mark.parametrize(("value", "seconds"), [(None, 300), ("5m", 300), ("1h30m", 5400), (30, 30), ("0", 0)])
def test_keep_alive_durations(value: object, seconds: int) -> None:
    span = keep_alive_of(value)
    assert span is not None and span.total_seconds() == seconds


def test_negative_keep_alive_is_forever() -> None:
    assert keep_alive_of(-1) is None and keep_alive_of("-1m") is None


def test_a_model_unloads_when_its_keep_alive_runs_out(client: ollama.Client) -> None:
    client.generate(MODEL, prompt="hi", keep_alive=0.2)  # seconds
    assert [m.model for m in client.ps().models] == [MODEL]
    deadline = time.monotonic() + 5
    while client.ps().models and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.ps().models == []
    assert client.generate(MODEL, prompt="hi").load_duration  # loaded again, so it takes load time


def test_an_error_after_the_stream_started(client: ollama.Client, server: FakeOllama) -> None:
    server.break_next_stream("model runner has unexpectedly stopped")
    received: list[str] = []
    with pytest.raises(ollama.ResponseError) as caught:
        for part in client.chat(MODEL, messages=[{"role": "user", "content": "tell me more"}], stream=True):
            received.append(part.message.content or "")
    assert caught.value.status_code == -1 and caught.value.error == "model runner has unexpectedly stopped"
    assert received == ["Echo"]  # the first piece arrived before the error
    assert "".join(p.message.content or "" for p in client.chat(
        MODEL, messages=[{"role": "user", "content": "again"}], stream=True)) == "Echo: again"
