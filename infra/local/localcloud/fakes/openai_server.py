"""A FAKE of the OpenAI HTTP API, for tests and for the local cloud's offline (simulated) mode.

This is not a model and not a product path. It never calls OpenAI. It answers in the real
REST wire format (JSON bodies, SSE streams, error shapes) so that the official ``openai`` SDK
works against it unchanged, and it returns deterministic text (``"Echo: <last user message>"``)
so tests can assert on it. Anything served by it must be labelled as simulated output.

Faults (429/500/401/..., or a whole-service outage) can be scripted from tests:

    with FakeOpenAI(api_key="sk-test") as server:
        server.fail_next(status=429, times=2, retry_after=1)
        client = OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

DEFAULT_MODELS: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")
_CREATED = 1_700_000_000  # fixed "created" for models, so listings are stable


@dataclass(frozen=True)
class Fault:
    status: int
    retry_after: float | None = None
    message: str | None = None


def mask_key(key: str) -> str:
    """Mask an API key the way OpenAI does in error messages: keep a short head and tail only."""
    if len(key) <= 12:
        return "*" * len(key)
    return f"{key[:5]}****{key[-4:]}"


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {"x-request-id": f"req_{uuid.uuid4().hex}", **(headers or {})}
    return web.json_response(body, status=status, headers=all_headers)


def fault_response(fault: Fault, model: str, api_key: str) -> web.Response:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:  # whole seconds per HTTP; the SDK prefers the precise -ms form
        headers["retry-after"] = str(math.ceil(fault.retry_after))
        headers["retry-after-ms"] = str(int(fault.retry_after * 1000))
    if fault.status == 429:
        message = fault.message or (
            f"Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
            "Limit 3, Used 3, Requested 1. Please try again later."
        )
        headers.update({"x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "0"})
        if fault.retry_after is not None:
            headers["x-ratelimit-reset-requests"] = f"{fault.retry_after}s"
        body = error_body(message, "requests", code="rate_limit_exceeded")
    elif fault.status == 401:
        message = fault.message or f"Incorrect API key provided: {mask_key(api_key)}."
        body = error_body(message, "invalid_request_error", code="invalid_api_key")
    elif fault.status == 503:
        body = error_body(fault.message or "The server is overloaded or not ready yet.", "server_error")
    elif fault.status >= 500:
        message = fault.message or "The server had an error while processing your request."
        body = error_body(message, "server_error")
    else:
        body = error_body(fault.message or f"Simulated error {fault.status}.", "invalid_request_error")
    return _error(fault.status, body, headers)


def _text_of(content: Any) -> str:
    """Message content is a string or a list of parts; only text parts carry words."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(parts)
    return ""


def _validate(body: Any) -> dict[str, Any] | None:
    """Return an OpenAI error body if the request would be rejected by the real API."""
    if not isinstance(body, dict):
        return error_body("Invalid type for request body: expected an object.", "invalid_request_error")
    if not body.get("model"):
        return error_body("you must provide a model parameter", "invalid_request_error")
    messages = body.get("messages")
    if messages is None:
        message = "Missing required parameter: 'messages'."
        return error_body(message, "invalid_request_error", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        return error_body(f"Invalid 'messages': {messages!r} is not a non-empty array.",
                          "invalid_request_error", "messages", "invalid_value")
    return None


class FakeOpenAI:
    """In-process fake OpenAI server on its own event loop thread; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None, *,
                 reply: str | None = None, reply_prefix: str = "", chunk_size: int = 8,
                 chunk_delay: float = 0.0, models: Sequence[str] = DEFAULT_MODELS) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.reply = reply
        self.reply_prefix = reply_prefix
        self.chunk_size = max(1, chunk_size)
        self.chunk_delay = chunk_delay
        self.models = list(models)
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._down = False
        self._down_models: set[str] = set()
        self._requests: list[dict[str, Any]] = []
        self._chat_calls = 0
        self._aborted_streams = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def fail_next(self, status: int = 500, times: int = 1, retry_after: float | None = None,
                  message: str | None = None) -> None:
        """Script the next ``times`` chat requests to fail with ``status`` (consumed in order)."""
        with self._lock:
            self._faults.extend(Fault(status, retry_after, message) for _ in range(times))

    def set_down(self, down: bool = True, *, model: str | None = None) -> None:
        """While down, every chat request (or every one for `model`) gets a 503 (faults queued meanwhile
        are kept)."""
        with self._lock:
            if model is None:
                self._down = down
            elif down:
                self._down_models.add(model)
            else:
                self._down_models.discard(model)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._down = False
            self._down_models.clear()
            self._requests.clear()
            self._chat_calls = 0
            self._aborted_streams = 0

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of recorded chat requests: ``{"method", "path", "json", "headers"}``."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_calls(self) -> int:
        with self._lock:
            return self._chat_calls

    @property
    def aborted_streams(self) -> int:
        """Streams whose client went away before ``[DONE]`` (for cancellation tests)."""
        with self._lock:
            return self._aborted_streams

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1"

    def start(self) -> Self:
        """Bind (``port=0`` picks a free port) and return once the server is listening."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI already started")
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="fake-openai", daemon=True)
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

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
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

    def _auth_error(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            message = ("You didn't provide an API key. You need to provide your API key in an "
                       "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
            return _error(401, error_body(message, "invalid_request_error"))
        key = header[7:].strip()
        if self.api_key is not None and key != self.api_key:
            return fault_response(Fault(401), "", key)
        return None

    def _admit(self, model: str) -> Fault | None:
        """Count the call and decide whether an outage or a scripted fault answers it."""
        with self._lock:
            self._chat_calls += 1
            if self._down or model in self._down_models:
                return Fault(503)
            return self._faults.popleft() if self._faults else None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        # Outages and scripted faults answer before auth/validation so a test's script is
        # consumed exactly one per request, whatever the request looks like.
        try:
            body: Any = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        with self._lock:
            self._requests.append({"method": request.method, "path": request.path,
                                   "json": body, "headers": headers})
        model = body.get("model", "") if isinstance(body, dict) else ""
        fault = self._admit(str(model))
        if fault is not None:
            return fault_response(fault, model or "gpt-4o-mini", request.headers.get("Authorization", "")[7:])
        if (auth := self._auth_error(request)) is not None:
            return auth
        if body is None:
            message = "We could not parse the JSON body of your request."
            return _error(400, error_body(message, "invalid_request_error"))
        if (invalid := _validate(body)) is not None:
            return _error(400, invalid)
        reply = self._reply_for(body["messages"])
        usage = self._usage(body["messages"], reply)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._stream(request, model, reply, usage if include_usage else None)
        return web.json_response({
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
            "created": int(time.time()), "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply, "refusal": None},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": usage,
        }, headers={"x-request-id": f"req_{uuid.uuid4().hex}"})

    def _reply_for(self, messages: list[Any]) -> str:
        if self.reply is not None:
            return self.reply
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        last = _text_of(users[-1].get("content")) if users else ""
        return f"{self.reply_prefix}Echo: {last}"

    @staticmethod
    def _usage(messages: list[Any], reply: str) -> dict[str, int]:
        prompt = sum(len(_text_of(m.get("content")).split()) for m in messages if isinstance(m, dict))
        completion = len(reply.split())
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def _stream(self, request: web.Request, model: str, reply: str,
                      usage: dict[str, int] | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "x-request-id": f"req_{uuid.uuid4().hex}",
        })
        await response.prepare(request)
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model, "system_fingerprint": "fp_fake"}
        extra = {"usage": None} if usage is not None else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**base, "choices": [choice], **extra}

        pieces = [reply[i:i + self.chunk_size] for i in range(0, len(reply), self.chunk_size)]
        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        events += [chunk({"content": piece}) for piece in pieces]
        events.append(chunk({}, "stop"))
        if usage is not None:
            events.append({**base, "choices": [], "usage": usage})
        try:
            for event in events:
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError) as exc:
            with self._lock:
                self._aborted_streams += 1
            # A client hanging up mid-stream is normal (cancellation tests); shutdown is not ours to eat.
            if isinstance(exc, asyncio.CancelledError):
                raise
        return response

    async def _models(self, request: web.Request) -> web.Response:
        if (auth := self._auth_error(request)) is not None:
            return auth
        data = [{"id": m, "object": "model", "created": _CREATED, "owned_by": "system"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _not_found(self, request: web.Request) -> web.Response:
        message = f"Invalid URL ({request.method} {request.path})"
        return _error(404, error_body(message, "invalid_request_error"))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI API (simulated output, for tests/offline mode).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--api-key", default=None, help="require this key (default: accept any)")
    parser.add_argument("--reply", default=None, help="fixed reply text instead of echoing")
    parser.add_argument("--reply-prefix", default="")
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    server = FakeOpenAI(args.host, args.port, args.api_key, reply=args.reply, reply_prefix=args.reply_prefix,
                        chunk_size=args.chunk_size, chunk_delay=args.chunk_delay)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with server:
        print(f"fake OpenAI (SIMULATED) listening on {server.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()


if __name__ == "__main__":
    main()
