"""What every provider fake shares: an aiohttp server on its own event-loop thread, scripted faults, a record of
the generation requests, deterministic "Echo: …" replies, and SSE streaming with an optional delay per chunk.

A fake is not a model and never calls the provider: each subclass answers in its provider's real wire format
(routes, JSON bodies, SSE events, error shapes) so that the provider's official SDK works against it unchanged.
Anything it serves must be labelled as simulated output.

Faults are scripted from tests, one per generation request, in order:

    server.fail_next(status=429, times=2, retry_after=1)      # an HTTP error by status
    server.fail_next(kind="context_too_long")                   # a named fault (FAULT_KINDS), in the wire format
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

#: Named faults every fake answers in its provider's own way: the status and error body (or, for
#: `content_filtered`, the refusal) that provider sends in that situation; `timeout` answers too late.
FAULT_KINDS = ("invalid_key", "permission_denied", "rate_limited", "bad_request", "context_too_long",
               "content_filtered", "model_not_found", "unavailable", "timeout")


@dataclass(frozen=True)
class Fault:
    status: int = 500
    retry_after: float | None = None
    message: str | None = None
    kind: str | None = None  # one of FAULT_KINDS, when named
    delay: float = 0.0  # seconds before answering (the `timeout` fault)


class FakeServer:
    """In-process fake provider; subclasses add their routes (`routes`) and wire formats."""

    name = "provider"
    #: Appended to the root URL in `base_url`, as the provider's SDK expects its base URL.
    url_suffix = ""
    default_models: tuple[str, ...] = ()
    #: How late the `timeout` fault answers: longer than any test's client timeout.
    timeout_delay = 5.0

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None, *,
                 reply: str | None = None, reply_prefix: str = "", chunk_size: int = 8,
                 chunk_delay: float = 0.0, models: Sequence[str] | None = None) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.reply = reply
        self.reply_prefix = reply_prefix
        self.chunk_size = max(1, chunk_size)
        self.chunk_delay = chunk_delay
        self.models = list(models if models is not None else self.default_models)
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._down = False
        self._down_models: set[str] = set()
        self._broken_streams: list[str] = []  # what each of the next streams breaks off with
        self._requests: list[dict[str, Any]] = []
        self._calls: Counter[str] = Counter()  # generation requests by kind (chat, images)
        self._aborted_streams = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ scripting from tests
    def fail_next(self, status: int = 500, times: int = 1, retry_after: float | None = None,
                  message: str | None = None, kind: str | None = None) -> None:
        """Script the next ``times`` generation requests to fail with ``status``, or with the named fault
        ``kind`` (FAULT_KINDS; its status is the provider's own), consumed in order."""
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        delay = self.timeout_delay if kind == "timeout" else 0.0
        with self._lock:
            self._faults.extend(Fault(status, retry_after, message, kind, delay) for _ in range(times))

    def set_down(self, down: bool = True, *, model: str | None = None) -> None:
        """While down, every generation request (or every one for `model`) gets a 503 (faults queued meanwhile
        are kept)."""
        with self._lock:
            if model is None:
                self._down = down
            elif down:
                self._down_models.add(model)
            else:
                self._down_models.discard(model)

    def break_stream(self, error: str) -> None:
        """The next stream sends its first piece, then fails with `error` (each fake says it in its provider's
        way) instead of the rest."""
        with self._lock:
            self._broken_streams.append(error)

    def next_broken_stream(self) -> str | None:
        """The error the stream being answered breaks off with, if one was scripted."""
        with self._lock:
            return self._broken_streams.pop(0) if self._broken_streams else None

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._down = False
            self._down_models.clear()
            self._broken_streams.clear()
            self._requests.clear()
            self._calls.clear()
            self._aborted_streams = 0

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of recorded generation requests: ``{"method", "path", "json", "headers"}`` (no credentials)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_calls(self) -> int:
        with self._lock:
            return self._calls["chat"]

    @property
    def aborted_streams(self) -> int:
        """Streams whose client went away before their end (for cancellation tests)."""
        with self._lock:
            return self._aborted_streams

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}{self.url_suffix}"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Bind (``port=0`` picks a free port) and return once the server is listening."""
        if self._thread is not None:
            raise RuntimeError(f"fake {self.name} already started")
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        self._loop = loop
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        except BaseException:
            self._shutdown_loop()
            raise
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
            self._runner = None
        self._shutdown_loop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _serve(self) -> None:
        app = web.Application()
        self.routes(app)
        # A short shutdown timeout: a deliberately slow stream must not hold up stop().
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    def _shutdown_loop(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop, self._thread = None, None

    # ------------------------------------------------------------------ helpers for the subclasses
    async def admit(self, request: web.Request, secret_headers: Sequence[str],
                    kind: str = "chat") -> tuple[Any, Fault | None]:
        """Read and record a generation request (without the headers that carry the key), count it under its
        `kind`, and say whether an outage or a scripted fault answers it (after the fault's delay)."""
        try:
            body: Any = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        secret = {name.lower() for name in secret_headers}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in secret}
        with self._lock:
            self._requests.append({"method": request.method, "path": request.path, "json": body,
                                   "headers": headers})
            self._calls[kind] += 1
            model = body.get("model") if isinstance(body, dict) else None
            if self._down or model in self._down_models:
                fault: Fault | None = Fault(503)
            else:
                fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        return body, fault

    def reply_to(self, last_user_text: str) -> str:
        return self.reply if self.reply is not None else f"{self.reply_prefix}Echo: {last_user_text}"

    def pieces(self, text: str) -> list[str]:
        return [text[i:i + self.chunk_size] for i in range(0, len(text), self.chunk_size)]

    async def send_sse(self, request: web.Request, events: Sequence[bytes],
                       headers: dict[str, str] | None = None) -> web.StreamResponse:
        """Stream already-encoded SSE events, `chunk_delay` apart; a client hanging up is counted, not an error."""
        return await self.send_stream(request, events, "text/event-stream", headers)

    async def send_stream(self, request: web.Request, events: Iterable[bytes], content_type: str,
                          headers: dict[str, str] | None = None) -> web.StreamResponse:
        """Stream already-encoded pieces (SSE events, NDJSON lines) of `content_type`, `chunk_delay` apart."""
        response = web.StreamResponse(headers={"Content-Type": content_type, "Cache-Control": "no-cache",
                                               **(headers or {})})
        await response.prepare(request)
        try:
            for event in events:
                await response.write(event)
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError) as exc:
            with self._lock:
                self._aborted_streams += 1
            # A client hanging up mid-stream is normal (cancellation tests); shutdown is not ours to eat.
            if isinstance(exc, asyncio.CancelledError):
                raise
        return response


def json_answer(reply: str) -> str:
    """The reply when JSON is asked for: an object every JSON mode accepts, still deterministic."""
    return json.dumps({"text": reply})


def words(text: str) -> int:
    """The fakes' token count: whitespace-separated words (deterministic, so tests can assert it)."""
    return len(text.split())
