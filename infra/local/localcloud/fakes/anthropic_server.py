"""A FAKE of Anthropic's Messages API, for tests and for the local cloud's offline (simulated) mode.

Not a model, never calls Anthropic: it answers in the real wire format so the official ``anthropic`` SDK works
against it unchanged: ``POST /v1/messages`` with JSON or the SSE event sequence message_start,
content_block_start, ping, content_block_delta, content_block_stop, message_delta, message_stop;
``GET /v1/models``; the key in ``x-api-key`` or ``Authorization: Bearer``; error bodies
``{"type": "error", "error": {"type", "message"}}``. The reply is ``"Echo: <last user message>"``
(``{"text": …}`` when a JSON schema is asked for); tokens are counted as words. Faults are scripted as
fakes/base.py says:

    with FakeAnthropic(api_key="sk-ant-test") as server:
        server.fail_next(status=529)                    # overloaded_error
        server.fail_next(kind="context_too_long")       # 400 "prompt is too long: …"
        client = Anthropic(base_url=server.base_url, api_key="sk-ant-test", max_retries=0)
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from aiohttp import web

from .base import FakeServer, Fault, json_answer, words

DEFAULT_MODELS: tuple[str, ...] = ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6")
#: Anthropic's error type for each HTTP status it uses.
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
          504: "timeout_error", 529: "overloaded_error"}
#: The named faults as Anthropic sends them: status and message (the type follows from the status).
_KINDS: dict[str, tuple[int, str]] = {
    "invalid_key": (401, "invalid x-api-key"),
    "permission_denied": (403, "Your API key does not have permission to use the specified resource."),
    "rate_limited": (429, "Number of request tokens has exceeded your per-minute rate limit."),
    "bad_request": (400, 'messages: roles must alternate between "user" and "assistant"'),
    "context_too_long": (400, "prompt is too long: 201000 tokens > 200000 maximum"),
    "model_not_found": (404, "model: no such model"),
    "unavailable": (529, "Overloaded"),
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"type": "error", "error": {"type": _TYPES.get(status, "api_error"), "message": message},
            "request_id": f"req_{uuid.uuid4().hex[:24]}"}
    return web.json_response(body, status=status, headers=headers)


def fault_response(fault: Fault) -> web.Response:
    status, message = _KINDS.get(fault.kind or "", (fault.status, f"Simulated error {fault.status}."))
    headers = {"retry-after": str(math.ceil(fault.retry_after))} if fault.retry_after is not None else None
    return _error(status, fault.message or message, headers)


def _text_of(content: Any) -> str:
    """Content is a string or a list of blocks; only text blocks carry words."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _invalid(body: Any) -> str | None:
    """The message of the 400 the real API would answer, if any."""
    if not isinstance(body, dict):
        return "Invalid JSON body"
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    if any(role not in ("user", "assistant") for role in roles):
        return "messages: Unexpected role. Allowed roles are 'user' or 'assistant'"
    return None


class FakeAnthropic(FakeServer):
    """In-process fake Anthropic Messages API; see the module docstring."""

    name = "anthropic"
    default_models = DEFAULT_MODELS

    def break_next_stream(self, error_type: str = "overloaded_error") -> None:
        """The next stream sends its first text, then an `error` event (as Anthropic does when it is overloaded
        mid-answer) instead of the rest."""
        self.break_stream(error_type)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    def _auth_error(self, request: web.Request) -> web.Response | None:
        # Anthropic takes the key in `x-api-key`, or (as the SDK sends it now) as a bearer token.
        bearer = request.headers.get("Authorization", "")
        key = request.headers.get("x-api-key", "").strip() or bearer.removeprefix("Bearer ").strip()
        if not key:
            return _error(401, "x-api-key header is required")
        if self.api_key is not None and key != self.api_key:
            return _error(401, "invalid x-api-key")
        return None

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self.admit(request, ["x-api-key", "Authorization"])
        if fault is not None and fault.kind not in ("content_filtered", "timeout"):
            return fault_response(fault)
        if (auth := self._auth_error(request)) is not None:
            return auth
        if (invalid := _invalid(body)) is not None:
            return _error(400, invalid)
        users = [m for m in body["messages"] if m.get("role") == "user"]
        reply = self.reply_to(_text_of(users[-1].get("content")) if users else "")
        if ((body.get("output_config") or {}).get("format") or {}).get("type") == "json_schema":
            reply = json_answer(reply)
        # Claude's safety classifiers end an answer with the stop reason `refusal`, and no text.
        stop_reason = "refusal" if fault is not None and fault.kind == "content_filtered" else "end_turn"
        reply = "" if stop_reason == "refusal" else reply
        given = words(_text_of(body.get("system"))) + sum(words(_text_of(m.get("content"))) for m in body["messages"])
        message = {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
                   "model": body["model"], "stop_sequence": None}
        headers = {"request-id": f"req_{uuid.uuid4().hex[:24]}"}
        if body.get("stream"):
            events = self._events(message, reply, stop_reason, given)
            broken = self.next_broken_stream()
            if broken is not None:  # message_start, content_block_start, ping, the first delta: then the error
                error = {"type": "error", "error": {"type": broken, "message": "Overloaded"}}
                events = [*events[:4], f"event: error\ndata: {json.dumps(error)}\n\n".encode()]
            return await self.send_sse(request, events, headers)
        return web.json_response({
            **message, "content": [{"type": "text", "text": reply}] if reply else [], "stop_reason": stop_reason,
            "usage": {"input_tokens": given, "output_tokens": words(reply)}}, headers=headers)

    def _events(self, message: dict[str, Any], reply: str, stop_reason: str, given: int) -> list[bytes]:
        def event(kind: str, data: dict[str, Any]) -> bytes:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

        start = {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": given, "output_tokens": 1}}
        events = [event("message_start", {"message": start})]
        if reply:
            events += [event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
                       event("ping", {})]
            events += [event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
                       for piece in self.pieces(reply)]
            events.append(event("content_block_stop", {"index": 0}))
        events += [event("message_delta", {"delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                           "usage": {"output_tokens": words(reply)}}),
                   event("message_stop", {})]
        return events

    async def _models(self, request: web.Request) -> web.Response:
        if (auth := self._auth_error(request)) is not None:
            return auth
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in self.models]
        return web.json_response({"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error(404, f"Not found: {request.method} {request.path}")
