"""This host's Ollama, on the official `ollama` client: text and chat tasks (`OllamaText`, the provider
interface of spoonfeeder.providers.base) and model operations and inventory (`OllamaModels`).

Text tasks use /api/generate (the prompt is the last user message, `system` apart), chat tasks /api/chat (the
system message first). Neutral options become Ollama `options` (`max_tokens` is `num_predict`), a response
format becomes `format` ("json", or the JSON schema itself), and the task's Ollama-only `provider_options` go
into `options` too, except `keep_alive` and `think`, which Ollama takes at the top level.

A stream is closed as soon as its consumer raises (a cancelled task's delta write, a cancelled pull's progress
event), so Ollama stops generating or pulling; that exception goes on unchanged. The client's failures become
ProviderErrors with the task error codes (DESIGN §7), Ollama's own words kept in `provider_message`. The URL is
never part of a message or a result: it may carry credentials.

`ollama` is imported here only: the core package never imports it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from spoonfeeder import ids
from spoonfeeder.catalog import ollama_names
from spoonfeeder.providers.base import (
    Answer,
    ErrorCode,
    ListsModels,
    OnDelta,
    ProviderError,
    TextRequest,
    TextResult,
    sdk_errors,
    usage,
)
from spoonfeeder.providers.errors import Row, http_error, transport_error

from spoon_agent.pull_progress import SUCCESS, OnProgress, PullProgress

if TYPE_CHECKING:
    import ollama

Endpoint = Literal["generate", "chat"]
T = TypeVar("T")

#: The `kind` of an `{"error": …}` line inside a stream (the client gives it status -1): the server failed
#: after it had started answering, so the same request may well succeed again.
STREAM_ERROR = "stream_error"
#: Ollama's particular rows, by its message (the common rows by HTTP status follow; 5xx is unavailable).
ERROR_ROWS = (
    Row(ErrorCode.CONTEXT_TOO_LONG, says="exceeds the context length"),
    # A pull of a name the registry lacks: a 500, or an error line in the pull's stream.
    Row(ErrorCode.MODEL_NOT_FOUND, says="file does not exist"),
    Row(ErrorCode.PROVIDER_UNAVAILABLE, kind=STREAM_ERROR),
)
#: Ollama's options that are top-level request fields, not `options`.
TOP_LEVEL = frozenset({"keep_alive", "think"})
_RENAMED = {"max_tokens": "num_predict"}
#: Seconds allowed for an inventory call (version, list, ps, show, delete): a heartbeat must not wait as long
#: as a generation may.
PROBE_TIMEOUT = 5.0
_USERINFO = re.compile(r"//[^/@\s]+@")


def map_error(exc: Exception) -> ProviderError | None:
    """The client's failures as task error codes; None for anything else."""
    import ollama

    if isinstance(exc, ollama.ResponseError):
        in_stream = exc.status_code == -1
        return http_error(ERROR_ROWS, status=None if in_stream else exc.status_code,
                          kind=STREAM_ERROR if in_stream else None, message=_redacted(str(exc.error)))
    if isinstance(exc, ConnectionError):  # the client's own "Failed to connect to Ollama…"
        return ProviderError.of(ErrorCode.PROVIDER_UNAVAILABLE, provider_message=str(exc))
    if isinstance(exc, json.JSONDecodeError):  # a line that is not JSON: not Ollama answering, or cut short
        return ProviderError.of(ErrorCode.PROVIDER_UNAVAILABLE, provider_message=f"unreadable answer: {exc.msg}")
    err = transport_error(exc)
    if err is not None and err.provider_message:
        err.provider_message = _redacted(err.provider_message)
    return err


def _redacted(message: str) -> str:
    return _USERINFO.sub("//[redacted]@", message)


def connect(target: str | ollama.Client, *, timeout: float | None) -> ollama.Client:
    """A client for `target`: an Ollama base URL, or a client already made (used as it is)."""
    return _client_for(target, timeout) if isinstance(target, str) else target


@lru_cache(maxsize=16)
def _client_for(url: str, timeout: float | None) -> ollama.Client:
    # One client (one connection pool) per URL and timeout, shared by every task's provider: each task would
    # otherwise open its own connections and leave them to the garbage collector.
    import ollama

    return ollama.Client(host=url, timeout=timeout)


def _mapped(chunks: Iterator[T]) -> Iterator[T]:
    """The client's stream with its failures mapped; what the consumer raises does not pass through here."""
    while True:
        with sdk_errors(map_error):
            chunk = next(chunks, None)
        if chunk is None:
            return
        yield chunk


@contextmanager
def streaming(chunks: Iterator[T]) -> Iterator[Iterator[T]]:
    """Iterate a client stream; on leaving the block, whatever the reason, its HTTP response is closed (the
    client's generator holds it open while it is suspended)."""
    try:
        yield _mapped(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


# ---------------------------------------------------------------------- text and chat
class OllamaText(ListsModels):
    """The provider interface on Ollama. `timeout`: seconds to connect and between two pieces of an answer
    (a first piece may wait for a model to load); unused when a client is given."""

    def __init__(self, target: str | ollama.Client, *, timeout: float | None = None,
                 endpoint: Endpoint = "chat") -> None:
        if endpoint not in ("generate", "chat"):
            raise ValueError(f"endpoint must be generate or chat, not {endpoint!r}")
        self._client = connect(target, timeout=timeout)
        self.endpoint = endpoint

    def params(self, request: TextRequest) -> dict[str, Any]:
        """The client's keyword arguments for a neutral request."""
        options = dict(request.options)
        response_format = options.pop("response_format", None) or {}
        sent: dict[str, Any] = {"model": request.model}
        ollama_options = {_RENAMED.get(name, name): value for name, value in options.items() if value is not None}
        for name, value in request.provider_options.items():
            if value is not None:
                (sent if name in TOP_LEVEL else ollama_options)[name] = value
        if ollama_options:
            sent["options"] = ollama_options
        if response_format.get("type") == "json_schema":
            sent["format"] = response_format["json_schema"]["schema"]
        elif response_format.get("type") == "json_object":
            sent["format"] = "json"
        if self.endpoint == "chat":
            system = [{"role": "system", "content": request.system}] if request.system else []
            sent["messages"] = [*system, *request.messages]
        else:
            sent["prompt"] = next((m["content"] for m in reversed(request.messages) if m.get("role") == "user"), "")
            if request.system:
                sent["system"] = request.system
        return sent

    def _call(self, request: TextRequest, *, stream: bool) -> Any:
        call = self._client.chat if self.endpoint == "chat" else self._client.generate
        return call(**self.params(request), stream=stream)

    def _take(self, answer: Answer, part: Any) -> bool:
        """Add one chunk (or the whole answer) to `answer`; True for the final one, which has the counts."""
        answer.add(part.message.content if self.endpoint == "chat" else part.response)
        if part.done:
            answer.usage = usage(part.prompt_eval_count, part.eval_count)
            answer.finish_reason = part.done_reason
        return bool(part.done)

    def stream(self, request: TextRequest, on_delta: OnDelta) -> TextResult:
        answer, done = Answer(on_delta), False
        with sdk_errors(map_error):
            chunks = self._call(request, stream=True)
        with streaming(chunks) as parts:
            for part in parts:
                done = self._take(answer, part) or done
        if not done:  # the stream ended without its final chunk: cut off on the way
            raise ProviderError.of(ErrorCode.PROVIDER_UNAVAILABLE, provider_message="the answer ended unfinished")
        return answer.result()

    def generate(self, request: TextRequest) -> TextResult:
        answer = Answer()
        with sdk_errors(map_error):
            self._take(answer, self._call(request, stream=False))
        return answer.result()

    def list_models(self) -> list[str]:
        with sdk_errors(map_error):
            return [str(m.model) for m in self._client.list().models]


# ---------------------------------------------------------------------- models and inventory
def _iso(moment: datetime | None) -> str | None:
    """Ollama's times (RFC 3339 with the host's offset) as the platform's ISO UTC."""
    return ids.iso(moment) if moment is not None else None


def _details(details: Any) -> dict[str, Any]:
    return {"family": getattr(details, "family", None), "parameter_size": getattr(details, "parameter_size", None),
            "quantization_level": getattr(details, "quantization_level", None)}


class OllamaModels:
    """Model operations and inventory. Operations (pull, load, unload) wait as long as `timeout`; inventory
    calls at most `probe_timeout`, so a hung Ollama delays a heartbeat by seconds, not minutes. Each operation
    returns a small dict, the task result's `detail`."""

    def __init__(self, target: str | ollama.Client, *, timeout: float | None = None,
                 probe_timeout: float = PROBE_TIMEOUT, progress_every: float = 0.25) -> None:
        self._client = connect(target, timeout=timeout)
        self._probe = connect(target, timeout=probe_timeout) if isinstance(target, str) else self._client
        self.progress_every = progress_every

    # -------------------------------------------------------------- inventory
    def version(self) -> str:
        # ollama-python has no call for /api/version (its own docs say to call it directly): the client's
        # request helper gives it the same host rules, headers and error types as every other call.
        with sdk_errors(map_error):
            return str(self._probe._request_raw("GET", "/api/version").json()["version"])

    def up(self) -> bool:
        """Whether Ollama answers; never raises."""
        try:
            self.version()
        except Exception:
            return False
        return True

    def installed(self) -> list[dict[str, Any]]:
        """Installed models: name, size (bytes), digest, modified_at (ISO), family, parameter_size,
        quantization_level."""
        with sdk_errors(map_error):
            models = self._probe.list().models
        return [{"name": str(m.model), "size": int(m.size or 0), "digest": m.digest, "modified_at": _iso(m.modified_at),
                 **_details(m.details)} for m in models]

    def loaded(self) -> list[dict[str, Any]]:
        """Models in memory: name, size_vram (bytes), expires_at (ISO)."""
        with sdk_errors(map_error):
            models = self._probe.ps().models
        return [{"name": str(m.model or m.name), "size_vram": int(m.size_vram or 0), "expires_at": _iso(m.expires_at)}
                for m in models]

    def has(self, name: str) -> bool:
        """Whether `name` is installed ("llama3.2" matches "llama3.2:latest")."""
        return any(ollama_names.same(name, model["name"]) for model in self.installed())

    def show(self, name: str) -> dict[str, Any]:
        """What Ollama says of an installed model (not its modelfile, license or template: large, and known from
        its name)."""
        with sdk_errors(map_error):
            shown = self._probe.show(self._name(name))
        info = shown.modelinfo or {}
        architecture = info.get("general.architecture")
        return {"name": ollama_names.canonical(name), **_details(shown.details),
                "format": getattr(shown.details, "format", None), "capabilities": list(shown.capabilities or []),
                "context_length": info.get(f"{architecture}.context_length"),
                "modified_at": _iso(shown.modified_at)}

    # -------------------------------------------------------------- operations
    def pull(self, name: str, on_progress: OnProgress) -> dict[str, Any]:
        """Download a model, passing coalesced progress to `on_progress` (see pull_progress). If `on_progress`
        raises, the pull's stream is closed (Ollama stops the download) and the exception goes on."""
        progress = PullProgress(on_progress, every=self.progress_every)
        with sdk_errors(map_error):
            lines = self._client.pull(self._name(name), stream=True)
        succeeded = False
        with streaming(lines) as parts:
            for part in parts:  # read to the end, so the connection stays usable
                progress.add(part.status or "", part.digest, part.completed, part.total)
                succeeded = succeeded or part.status == SUCCESS
        if not succeeded:
            raise ProviderError.of(ErrorCode.PROVIDER_UNAVAILABLE, provider_message="the pull ended before success")
        return {"status": SUCCESS, "total": progress.total}

    def load(self, name: str, keep_alive: float | str | None = None) -> dict[str, Any]:
        """Load a model into memory (an empty prompt), for `keep_alive` (Ollama's default when None)."""
        with sdk_errors(map_error):
            done = self._client.generate(self._name(name), prompt="", keep_alive=keep_alive)
        return {"done_reason": done.done_reason, "keep_alive": keep_alive}

    def unload(self, name: str) -> dict[str, Any]:
        with sdk_errors(map_error):
            done = self._client.generate(self._name(name), prompt="", keep_alive=0)
        return {"done_reason": done.done_reason}

    def delete(self, name: str) -> dict[str, Any]:
        with sdk_errors(map_error):
            done = self._client.delete(self._name(name))
        return {"status": done.status}

    @staticmethod
    def _name(name: str) -> str:
        if not name:  # the client would refuse it with a pydantic error before sending anything
            raise ProviderError.of(ErrorCode.BAD_REQUEST, provider_message="a model name is required")
        return name

