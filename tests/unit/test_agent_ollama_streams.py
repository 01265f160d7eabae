"""What the fake Ollama never sends but a proxy or a crash can: a stream cut short, a line that is not JSON.
The official client over an httpx mock transport; the driver must fail the attempt as retryable."""

from __future__ import annotations

import httpx
import ollama
import pytest
from spoon_agent.ollama_driver import OllamaModels, OllamaText
from spoonfeeder.providers.base import ErrorCode, ProviderError, TextRequest

REQUEST = TextRequest(model="llama3.2:latest", messages=[{"role": "user", "content": "hi"}])
PIECE = b'{"model":"llama3.2:latest","message":{"role":"assistant","content":"Echo"},"done":false}\n'


def client(body: bytes) -> ollama.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})

    return ollama.Client(host="http://127.0.0.1:11434", transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(("body", "says"), [
    (PIECE, "the answer ended unfinished"),  # no final `done` chunk
    (PIECE + b"<html>Bad Gateway</html>\n", "unreadable answer"),
])
def test_a_stream_that_is_not_whole_is_unavailable(body: bytes, says: str) -> None:
    deltas: list[str] = []
    with pytest.raises(ProviderError) as caught:
        OllamaText(client(body)).stream(REQUEST, deltas.append)
    assert deltas == ["Echo"]
    assert caught.value.code == ErrorCode.PROVIDER_UNAVAILABLE and caught.value.retryable
    assert says in (caught.value.provider_message or "")


def test_a_pull_that_ends_before_success_is_unavailable() -> None:
    body = b'{"status":"pulling manifest"}\n{"status":"pulling abc","digest":"sha256:abc","total":10}\n'
    with pytest.raises(ProviderError) as caught:
        OllamaModels(client(body)).pull("llama3.2", lambda progress: None)
    assert caught.value.code == ErrorCode.PROVIDER_UNAVAILABLE and caught.value.retryable


def test_an_unknown_endpoint_is_refused() -> None:
    with pytest.raises(ValueError):
        OllamaText(client(b""), endpoint="embed")  # type: ignore[arg-type]
