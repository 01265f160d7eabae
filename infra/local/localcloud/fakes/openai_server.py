"""A FAKE of the OpenAI HTTP API, for tests and for the local cloud's offline (simulated) mode.

This is not a model and not a product path. It never calls OpenAI. It answers in the real
REST wire format (JSON bodies, SSE streams, error shapes) so that the official ``openai`` SDK
works against it unchanged, and it returns deterministic text (``"Echo: <last user message>"``)
so tests can assert on it. Anything served by it must be labelled as simulated output.
Image generation answers real PNGs of the requested size, one solid colour derived from the prompt.

Faults (429/500/401/..., a named fault of fakes/base.FAULT_KINDS, or a whole-service outage) can be
scripted from tests:

    with FakeOpenAI(api_key="sk-test") as server:
        server.fail_next(status=429, times=2, retry_after=1)
        server.fail_next(kind="context_too_long")
        client = OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import signal
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from .base import FakeServer, Fault, json_answer, words

DEFAULT_MODELS: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")
_CREATED = 1_700_000_000  # fixed "created" for models, so listings are stable
#: The named faults as OpenAI sends them: status, error type, code, message.
_KINDS: dict[str, tuple[int, str, str | None, str]] = {
    "invalid_key": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    "permission_denied": (403, "request_forbidden", "unsupported_country_region_territory",
                          "Country, region, or territory not supported"),
    "rate_limited": (429, "requests", "rate_limit_exceeded",
                     "Rate limit reached for requests per min (RPM). Please try again later."),
    "bad_request": (400, "invalid_request_error", "invalid_value", "Invalid value for 'messages'."),
    "context_too_long": (400, "invalid_request_error", "context_length_exceeded",
                         "This model's maximum context length is 128000 tokens. However, your messages resulted "
                         "in 130000 tokens. Please reduce the length of the messages."),
    "model_not_found": (404, "invalid_request_error", "model_not_found",
                        "The model does not exist or you do not have access to it."),
    "unavailable": (503, "server_error", None, "The server is overloaded or not ready yet."),
}


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
    if fault.kind in _KINDS:
        status, type_, code, message = _KINDS[fault.kind]
        param = "messages" if code in ("context_length_exceeded", "invalid_value") else None
        return _error(status, error_body(fault.message or message, type_, param, code), headers)
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


# ---------------------------------------------------------------------- images: request rules and real PNGs
#: A prompt containing this is refused by the fake's "safety system" (content_policy_violation and kin).
UNSAFE_MARKER = "[unsafe]"
#: Every size OpenAI's image models take (each model takes some of them; the fake does not tell them apart).
IMAGE_SIZES = frozenset({"256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792",
                         "auto"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _validate_image_request(body: Any) -> dict[str, Any] | None:
    """OpenAI's error body for an image request the real API refuses on its face."""
    if not isinstance(body, dict):
        return error_body("Invalid type for request body: expected an object.", "invalid_request_error")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return error_body("Missing required parameter: 'prompt'.", "invalid_request_error", "prompt",
                          "missing_required_parameter")
    model, n, size = body.get("model") or "dall-e-2", body.get("n"), body.get("size")
    if n is not None and (not isinstance(n, int) or not 1 <= n <= 10):
        return error_body(f"Invalid 'n': integer above maximum value. Expected a value <= 10, but got {n} instead.",
                          "invalid_request_error", "n", "integer_above_max_value")
    if model == "dall-e-3" and (n or 1) != 1:
        return error_body("You must provide n=1 for this model.", "invalid_request_error", "n")
    if size is not None and size not in IMAGE_SIZES:
        supported = ", ".join(f"'{s}'" for s in sorted(IMAGE_SIZES))
        return error_body(f"Invalid value: '{size}'. Supported values are: {supported}.", "invalid_request_error",
                          "size", "invalid_value")
    if model.startswith("gpt-image") and "response_format" in body:
        return error_body("Unknown parameter: 'response_format'.", "invalid_request_error", "response_format",
                          "unknown_parameter")
    return None


def _safety_refusal(model: str) -> dict[str, Any]:
    """The refusal of OpenAI's safety system: gpt-image models say `moderation_blocked`, dall-e models
    `content_policy_violation`."""
    if model.startswith("gpt-image"):
        return error_body("Your request was rejected by the safety system. If you believe this is an error, "
                          "contact us at help.openai.com.", "image_generation_user_error", None, "moderation_blocked")
    return error_body("Your request was rejected as a result of our safety system. Your prompt may contain text "
                      "that is not allowed by our safety system.", "invalid_request_error", None,
                      "content_policy_violation")


def colour_of(prompt: str) -> tuple[int, int, int]:
    """A stable colour per prompt, so the same prompt always makes the same image."""
    red, green, blue = hashlib.sha256(prompt.encode()).digest()[:3]
    return red, green, blue


def solid_png(width: int, height: int, rgb: tuple[int, int, int], *, transparent: bool = False) -> bytes:
    """A real PNG of one colour (8-bit RGB, or RGBA fully transparent); a solid colour compresses to almost
    nothing, so even large sizes stay cheap."""
    colour_type, pixel = (6, bytes([*rgb, 0])) if transparent else (2, bytes(rgb))
    row = b"\x00" + pixel * width  # filter byte 0 (none), then the pixels

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (_PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height, 6))
            + chunk(b"IEND", b""))


class FakeOpenAI(FakeServer):
    """In-process fake OpenAI server on its own event loop thread; see the module docstring."""

    name = "openai"
    url_suffix = "/v1"
    default_models = DEFAULT_MODELS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._image_files: dict[str, bytes] = {}  # dall-e's URL answers, served back by the fake
        self._extra_keys: set[str] = set()
        self._keys_used: list[str] = []

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._image_files.clear()
            self._extra_keys.clear()
            self._keys_used.clear()

    # ------------------------------------------------------------------ keys (tests of users' own keys)
    def accept_keys(self, *keys: str) -> None:
        """Accept these keys as well as ``api_key`` (each user of a test with a key of their own)."""
        with self._lock:
            self._extra_keys.update(keys)

    @property
    def keys_used(self) -> list[str]:
        """The bearer key of every chat and models request, in order (which user's key reached the provider)."""
        with self._lock:
            return list(self._keys_used)

    def _note_key(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        with self._lock:
            self._keys_used.append(header[7:].strip() if header.startswith("Bearer ") else "")

    def _known_key(self, key: str) -> bool:
        with self._lock:
            return self.api_key is None or key == self.api_key or key in self._extra_keys

    @property
    def image_calls(self) -> int:
        with self._lock:
            return self._calls["images"]

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_get("/v1/_fake_files/{name}", self._image_file)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    def _auth_error(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            message = ("You didn't provide an API key. You need to provide your API key in an "
                       "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
            return _error(401, error_body(message, "invalid_request_error"))
        key = header[7:].strip()
        if not self._known_key(key):
            return fault_response(Fault(401), "", key)
        return None

    async def _receive(self, request: web.Request, kind: str) -> tuple[Any, Fault | None, web.Response | None]:
        """Record, count (by `kind`: chat or images) and parse a request: its body, the scripted fault that
        answers it if any, and the response that refuses it if any. Outages and scripted faults answer before
        auth/validation so a test's script is consumed exactly one per request, whatever the request looks like.
        Named faults that are not HTTP errors (a filtered answer, a slow one) are left to the handler."""
        self._note_key(request)
        body, fault = await self.admit(request, ["Authorization"], kind)
        model = body.get("model", "") if isinstance(body, dict) else ""
        if fault is not None and fault.kind not in ("content_filtered", "timeout"):
            return body, fault, fault_response(fault, model or "gpt-4o-mini",
                                               request.headers.get("Authorization", "")[7:])
        if (auth := self._auth_error(request)) is not None:
            return body, fault, auth
        if body is None:
            message = "We could not parse the JSON body of your request."
            return body, fault, _error(400, error_body(message, "invalid_request_error"))
        return body, fault, None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, fault, refused = await self._receive(request, "chat")
        if refused is not None:
            return refused
        if (invalid := _validate(body)) is not None:
            return _error(400, invalid)
        # A filtered answer is a success with no text and the finish reason saying why (as Azure OpenAI sends).
        model = body.get("model", "")
        filtered = fault is not None and fault.kind == "content_filtered"
        reply = "" if filtered else self._reply_for(body["messages"])
        if (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
            reply = json_answer(reply)
        finish = "content_filter" if filtered else "stop"
        usage = self._usage(body["messages"], reply)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._stream(request, model, reply, usage if include_usage else None, finish)
        return web.json_response({
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
            "created": int(time.time()), "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply, "refusal": None},
                         "finish_reason": finish, "logprobs": None}],
            "usage": usage,
        }, headers={"x-request-id": f"req_{uuid.uuid4().hex}"})

    def _reply_for(self, messages: list[Any]) -> str:
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return self.reply_to(_text_of(users[-1].get("content")) if users else "")

    @staticmethod
    def _usage(messages: list[Any], reply: str) -> dict[str, int]:
        prompt = sum(words(_text_of(m.get("content"))) for m in messages if isinstance(m, dict))
        completion = words(reply)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def _stream(self, request: web.Request, model: str, reply: str,
                      usage: dict[str, int] | None, finish: str = "stop") -> web.StreamResponse:
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model, "system_fingerprint": "fp_fake"}
        extra = {"usage": None} if usage is not None else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**base, "choices": [choice], **extra}

        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        events += [chunk({"content": piece}) for piece in self.pieces(reply)]
        events.append(chunk({}, finish))
        if usage is not None:
            events.append({**base, "choices": [], "usage": usage})
        encoded = [f"data: {json.dumps(event)}\n\n".encode() for event in events] + [b"data: [DONE]\n\n"]
        return await self.send_sse(request, encoded, {"x-request-id": f"req_{uuid.uuid4().hex}"})

    # ------------------------------------------------------------------ images (POST /v1/images/generations)
    async def _images(self, request: web.Request) -> web.Response:
        body, _, refused = await self._receive(request, "images")
        if refused is not None:
            return refused
        if (invalid := _validate_image_request(body)) is not None:
            return _error(400, invalid)
        model, prompt = body.get("model") or "dall-e-2", body["prompt"]
        if UNSAFE_MARKER in prompt:
            return _error(400, _safety_refusal(model))
        gpt_image = model.startswith("gpt-image")
        size = body.get("size") or ("auto" if gpt_image else "1024x1024")
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        png = solid_png(width, height, colour_of(prompt), transparent=body.get("background") == "transparent")
        n = body.get("n") or 1
        item: dict[str, Any] = {}
        if model == "dall-e-3":
            item["revised_prompt"] = f"A simulated rendering of: {prompt}"
        if gpt_image or body.get("response_format") == "b64_json":
            item["b64_json"] = base64.b64encode(png).decode()
        answer: dict[str, Any] = {"created": int(time.time()), "data": []}
        for _ in range(n):
            if "b64_json" not in item:  # dall-e's default: a URL (here served by the fake itself)
                item = {**item, "url": f"{self.base_url}/_fake_files/{self._keep_file(png)}"}
            answer["data"].append(dict(item))
        if gpt_image:
            # Made-up but stable token counts: the prompt's words in, a share of the pixels out per image.
            words, pixels = len(prompt.split()), n * width * height // 4096
            answer.update(background="transparent" if body.get("background") == "transparent" else "opaque",
                          output_format="png", quality=body.get("quality") or "medium", size=f"{width}x{height}",
                          usage={"input_tokens": words, "output_tokens": pixels, "total_tokens": words + pixels,
                                 "input_tokens_details": {"text_tokens": words, "image_tokens": 0}})
        return web.json_response(answer, headers={"x-request-id": f"req_{uuid.uuid4().hex}"})

    def _keep_file(self, data: bytes) -> str:
        name = f"img-{uuid.uuid4().hex}.png"
        with self._lock:
            self._image_files[name] = data
        return name

    async def _image_file(self, request: web.Request) -> web.Response:
        with self._lock:
            data = self._image_files.get(request.match_info["name"])
        if data is None:
            return await self._not_found(request)
        return web.Response(body=data, content_type="image/png")

    async def _models(self, request: web.Request) -> web.Response:
        self._note_key(request)
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
