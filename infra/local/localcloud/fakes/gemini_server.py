"""A FAKE of Google's Gemini API (generativelanguage v1 and v1beta), for tests and for the local cloud's offline
(simulated) mode.

Not a model, never calls Google: it answers in the real wire format so the official ``google-genai`` SDK works
against it unchanged (given the fake's ``base_url`` in its ``http_options``):
``{version}/models/{model}:generateContent``, ``{version}/models/{model}:streamGenerateContent?alt=sse``
(one JSON response per SSE event, ``usageMetadata`` on the last), ``GET models``; the key in
``x-goog-api-key`` or ``?key=``; error bodies ``{"error": {"code", "message", "status", "details"?}}``.
The reply is ``"Echo: <last user message>"`` (``{"text": …}`` when JSON is asked for); tokens are counted as
words. Faults are scripted as fakes/base.py says:

    with FakeGemini(api_key="AIza-test") as server:
        server.fail_next(kind="rate_limited", retry_after=2)   # 429 RESOURCE_EXHAUSTED with a RetryInfo
        client = genai.Client(api_key="AIza-test", http_options=types.HttpOptions(base_url=server.base_url))
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from .base import FakeServer, Fault, json_answer, words

DEFAULT_MODELS: tuple[str, ...] = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite")
#: Google's canonical status for each HTTP status.
_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
             429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_BAD_KEY = "API key not valid. Please pass a valid API key."
#: The named faults as Gemini sends them: HTTP status and message (the status name follows from it).
_KINDS: dict[str, tuple[int, str]] = {
    "invalid_key": (400, _BAD_KEY),
    "permission_denied": (403, "The caller does not have permission"),
    "rate_limited": (429, "You exceeded your current quota, please check your plan and billing details."),
    "bad_request": (400, "Invalid JSON payload received. Unknown name \"foo\": Cannot find field."),
    "context_too_long": (400, "The input token count (1048577) exceeds the maximum number of tokens allowed "
                              "(1048576)."),
    "model_not_found": (404, "models/unknown is not found for API version v1beta, or is not supported for "
                             "generateContent."),
    "unavailable": (503, "The model is overloaded. Please try again later."),
}


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUSES.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status)


def fault_response(fault: Fault) -> web.Response:
    status, message = _KINDS.get(fault.kind or "", (fault.status, f"Simulated error {fault.status}."))
    details = []
    if message == _BAD_KEY:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com"})
    if fault.retry_after is not None:  # Google says when to come back in a RetryInfo, not a header
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{fault.retry_after:g}s"})
    return _error(status, fault.message or message, details)


def _text_of(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    return " ".join(p.get("text", "") for p in parts or [] if isinstance(p, dict))


class FakeGemini(FakeServer):
    """In-process fake Gemini API; see the module docstring."""

    name = "gemini"
    url_suffix = "/"
    default_models = DEFAULT_MODELS

    def routes(self, app: web.Application) -> None:
        # The API's versions (the SDK picks one: v1 or v1beta) answer alike here.
        app.router.add_post("/{version:v1|v1beta|v1alpha}/models/{call}", self._generate)
        app.router.add_get("/{version:v1|v1beta|v1alpha}/models", self._models)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    def _auth_error(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key") or ""
        if not key:
            return _error(403, "Method doesn't allow unregistered callers (callers without established identity). "
                               "Please use API Key or other form of API consumer identity to call this API.")
        if self.api_key is not None and key != self.api_key:
            return fault_response(Fault(kind="invalid_key"))
        return None

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["call"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"Method {method!r} not found")
        body, fault = await self.admit(request, ["x-goog-api-key"])
        if fault is not None and fault.kind not in ("content_filtered", "timeout"):
            return fault_response(fault)
        if (auth := self._auth_error(request)) is not None:
            return auth
        contents = body.get("contents") if isinstance(body, dict) else None
        if not isinstance(contents, list) or not contents:
            return _error(400, "* GenerateContentRequest.contents: contents is not specified")
        if any(c.get("role") not in (None, "user", "model") for c in contents if isinstance(c, dict)):
            return _error(400, "Please use a valid role: user, model.")
        users = [c for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
        reply = self.reply_to(_text_of(users[-1]) if users else "")
        if (body.get("generationConfig") or {}).get("responseMimeType") == "application/json":
            reply = json_answer(reply)
        # A blocked answer: no text, and the finish reason says the safety filter stopped it.
        finish = "SAFETY" if fault is not None and fault.kind == "content_filtered" else "STOP"
        reply = "" if finish == "SAFETY" else reply
        given = words(_text_of(body.get("systemInstruction"))) + sum(words(_text_of(c)) for c in contents)
        usage = {"promptTokenCount": given, "candidatesTokenCount": words(reply),
                 "totalTokenCount": given + words(reply)}
        answer_id = uuid.uuid4().hex[:20]

        def response(text: str, finish: str | None, usage: dict[str, int] | None) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"parts": [{"text": text}] if text else [], "role": "model"},
                                         "index": 0}
            if finish:
                candidate["finishReason"] = finish
            return {"candidates": [candidate], "modelVersion": model, "responseId": answer_id,
                    **({"usageMetadata": usage} if usage else {})}

        if method == "generateContent":
            return web.json_response(response(reply, finish, usage))
        pieces = self.pieces(reply) or [""]
        chunks = [response(piece, None, None) for piece in pieces[:-1]] + [response(pieces[-1], finish, usage)]
        return await self.send_sse(request, [f"data: {json.dumps(c)}\r\n\r\n".encode() for c in chunks])

    async def _models(self, request: web.Request) -> web.Response:
        if (auth := self._auth_error(request)) is not None:
            return auth
        return web.json_response({"models": [
            {"name": f"models/{m}", "displayName": m, "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
             "supportedGenerationMethods": ["generateContent", "countTokens"]} for m in self.models]})

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error(404, f"Not found: {request.method} {request.path}")
