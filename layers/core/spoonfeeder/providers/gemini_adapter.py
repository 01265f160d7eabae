"""Google's Gemini API, on the official `google-genai` SDK (imported only when used; not the retired
`google-generativeai`).

Mapping of the neutral request: `system` is `system_instruction`; assistant turns have Gemini's role `model`;
`max_tokens` is `max_output_tokens`, `stop` `stop_sequences`; a `json_object` response format asks for
`application/json`, a `json_schema` one also gives the schema (`response_json_schema`). The SDK's retries are off
(one attempt): the task machinery is the one retry loop.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from spoonfeeder.providers.base import (
    Answer,
    Credentials,
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

if TYPE_CHECKING:
    from google import genai

#: Gemini's particular rows, by its error `status` and message (the common rows by HTTP status follow).
ERROR_ROWS = (
    Row(ErrorCode.INVALID_API_KEY, kind="INVALID_ARGUMENT", says="api key not valid"),
    Row(ErrorCode.INVALID_API_KEY, kind="UNAUTHENTICATED"),
    Row(ErrorCode.CONTEXT_TOO_LONG, kind="INVALID_ARGUMENT", says="exceeds the maximum number of tokens"),
    Row(ErrorCode.PERMISSION_DENIED, kind="PERMISSION_DENIED"),
    Row(ErrorCode.MODEL_NOT_FOUND, kind="NOT_FOUND"),
    Row(ErrorCode.RATE_LIMITED, kind="RESOURCE_EXHAUSTED"),
    Row(ErrorCode.PROVIDER_UNAVAILABLE, kind="UNAVAILABLE"),
    Row(ErrorCode.PROVIDER_UNAVAILABLE, kind="INTERNAL"),
    Row(ErrorCode.TIMEOUT, kind="DEADLINE_EXCEEDED"),
)
#: Finish reasons that mean a filter stopped the answer (a prompt blocked outright is filtered too).
FILTERED_FINISH = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY", "RECITATION"})
_ROLES = {"user": "user", "assistant": "model"}
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _retry_delay(body: Any) -> float | None:
    """Gemini says how long to wait in a RetryInfo detail ("retryDelay": "23s"), not a header."""
    error = body.get("error", body) if isinstance(body, dict) else {}
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and (match := _SECONDS.match(str(detail.get("retryDelay", "")))):
            return float(match.group(1))
    return None


def map_error(exc: Exception) -> ProviderError | None:
    """The SDK's failures as task error codes (DESIGN §7); None for anything else."""
    from google.genai import errors

    if not isinstance(exc, errors.APIError):
        return transport_error(exc)
    err = http_error(ERROR_ROWS, status=exc.code, kind=exc.status, message=str(exc.message or exc),
                     headers=getattr(exc.response, "headers", None))
    err.retry_after = err.retry_after if err.retry_after is not None else _retry_delay(exc.details)
    return err


def _usage(meta: Any) -> dict[str, int] | None:
    if meta is None:
        return None
    # Thinking models count their thoughts apart; they are output tokens all the same (and billed so).
    return usage(meta.prompt_token_count, (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0))


class GeminiProvider(ListsModels):
    def __init__(self, credentials: Credentials, *, timeout: float) -> None:
        from google import genai
        from google.genai import types

        options = types.HttpOptions(base_url=credentials.base_url, timeout=int(timeout * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1))
        self._client: genai.Client = genai.Client(api_key=credentials.api_key, http_options=options)

    @staticmethod
    def params(request: TextRequest) -> dict[str, Any]:
        """`generate_content`'s arguments for a neutral request (the config as a plain dict the SDK validates)."""
        options = dict(request.options)
        config: dict[str, Any] = {}
        if request.system:
            config["system_instruction"] = request.system
        renamed = {"max_tokens": "max_output_tokens", "stop": "stop_sequences"}
        response_format = options.pop("response_format", None) or {}
        if response_format:
            config["response_mime_type"] = "application/json"
        if response_format.get("type") == "json_schema":
            config["response_json_schema"] = response_format["json_schema"]["schema"]
        for name, value in {**options, **request.provider_options}.items():
            config[renamed.get(name, name)] = value
        contents = [{"role": _ROLES[m["role"]], "parts": [{"text": m["content"]}]} for m in request.messages]
        return {"model": request.model, "contents": contents, "config": config}

    @staticmethod
    def _take(answer: Answer, response: Any) -> None:
        """One response (or streamed chunk): its text parts (not the model's thoughts), finish and usage."""
        answer.usage = _usage(response.usage_metadata) or answer.usage
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = getattr(feedback.block_reason, "value", feedback.block_reason)
            raise ProviderError.of(ErrorCode.CONTENT_FILTERED, provider_message=f"prompt blocked: {reason}")
        for candidate in (response.candidates or [])[:1]:
            for part in (candidate.content.parts if candidate.content else None) or []:
                answer.add(part.text if not part.thought else None)
            if candidate.finish_reason is not None:
                answer.finish_reason = str(getattr(candidate.finish_reason, "value", candidate.finish_reason))

    def stream(self, request: TextRequest, on_delta: OnDelta) -> TextResult:
        answer = Answer(on_delta)
        with sdk_errors(map_error):
            for chunk in self._client.models.generate_content_stream(**self.params(request)):
                self._take(answer, chunk)
        return answer.result(FILTERED_FINISH)

    def generate(self, request: TextRequest) -> TextResult:
        answer = Answer()
        with sdk_errors(map_error):
            self._take(answer, self._client.models.generate_content(**self.params(request)))
        return answer.result(FILTERED_FINISH)

    def list_models(self) -> list[str]:
        with sdk_errors(map_error):
            return [str(m.name).removeprefix("models/") for m in self._client.models.list()]
