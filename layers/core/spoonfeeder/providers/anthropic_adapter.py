"""Anthropic's Messages API, on the official `anthropic` SDK (imported only when used).

Mapping of the neutral request: `system` is the `system` parameter; `max_tokens`, which Anthropic requires, is the
task's, else the model catalog's default for the model (`DEFAULT_MAX_TOKENS` for a model it does not list); `stop`
is `stop_sequences`. Structured output: a `json_schema` response format is Anthropic's own `output_config.format`
(the answer is constrained to the schema). Anthropic has no plain "any JSON object" mode, so `json_object` adds an
instruction to the system prompt: the model is asked, not constrained, and the docs say so. The current Messages API
has no sampling parameters: `temperature`, `top_p` and `seed` are refused when the task is created
(models/kinds.UNSUPPORTED).
"""

from __future__ import annotations

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
from spoonfeeder.providers.errors import Row, stainless_error

if TYPE_CHECKING:
    import anthropic

#: `max_tokens` when neither the task nor the catalog says: Anthropic requires one, and every current Claude model
#: can give this many output tokens.
DEFAULT_MAX_TOKENS = 4096
JSON_OBJECT_INSTRUCTION = "Answer with one JSON object only, no other text."

#: Anthropic's particular rows, by its error `type` and message (the common rows by HTTP status follow).
ERROR_ROWS = (
    Row(ErrorCode.CONTEXT_TOO_LONG, kind="invalid_request_error", says="prompt is too long"),
    Row(ErrorCode.CONTEXT_TOO_LONG, kind="invalid_request_error", says="exceed context limit"),
    Row(ErrorCode.INVALID_API_KEY, kind="authentication_error"),
    Row(ErrorCode.PERMISSION_DENIED, kind="permission_error"),
    Row(ErrorCode.PERMISSION_DENIED, kind="billing_error"),
    Row(ErrorCode.MODEL_NOT_FOUND, kind="not_found_error"),
    Row(ErrorCode.RATE_LIMITED, kind="rate_limit_error"),
    Row(ErrorCode.PROVIDER_UNAVAILABLE, kind="overloaded_error"),  # HTTP 529
    Row(ErrorCode.PROVIDER_UNAVAILABLE, kind="api_error"),
    Row(ErrorCode.TIMEOUT, kind="timeout_error"),
)
#: Stop reasons that mean Claude's safety classifiers stopped the answer.
FILTERED_FINISH = frozenset({"refusal"})


def map_error(exc: Exception) -> ProviderError | None:
    """The SDK's failures as task error codes (DESIGN §7); None for anything else."""
    import anthropic

    return stainless_error(anthropic, ERROR_ROWS, exc)


class AnthropicProvider(ListsModels):
    def __init__(self, credentials: Credentials, *, timeout: float) -> None:
        import anthropic

        # SDK retries are off: the task machinery is the one retry loop.
        self._client: anthropic.Anthropic = anthropic.Anthropic(
            api_key=credentials.api_key, base_url=credentials.base_url, max_retries=0, timeout=timeout,
        )

    @staticmethod
    def params(request: TextRequest) -> dict[str, Any]:
        """The Messages API parameters of a neutral request."""
        options = dict(request.options)
        params: dict[str, Any] = {"model": request.model, "messages": request.messages,
                                  "max_tokens": options.pop("max_tokens", None) or _default_max_tokens(request.model)}
        system = [request.system] if request.system else []
        response_format = options.pop("response_format", None) or {}
        if response_format.get("type") == "json_schema":
            params["output_config"] = {"format": {"type": "json_schema",
                                                  "schema": response_format["json_schema"]["schema"]}}
        elif response_format.get("type") == "json_object":
            system.append(JSON_OBJECT_INSTRUCTION)
        if system:
            params["system"] = "\n\n".join(system)
        if "stop" in options:
            params["stop_sequences"] = options.pop("stop")
        own = dict(request.provider_options)
        if "effort" in own:  # how hard to think is part of Anthropic's output configuration
            params["output_config"] = {**params.get("output_config", {}), "effort": own.pop("effort")}
        return {**params, **options, **own}

    def stream(self, request: TextRequest, on_delta: OnDelta) -> TextResult:
        answer = Answer(on_delta)
        given = made = 0
        with sdk_errors(map_error):
            for event in self._client.messages.create(**self.params(request), stream=True):
                if event.type == "message_start":
                    given = event.message.usage.input_tokens
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    answer.add(event.delta.text)
                elif event.type == "message_delta":
                    answer.finish_reason = event.delta.stop_reason or answer.finish_reason
                    made = event.usage.output_tokens
        answer.usage = usage(given, made)
        return answer.result(FILTERED_FINISH)

    def generate(self, request: TextRequest) -> TextResult:
        with sdk_errors(map_error):
            done = self._client.messages.create(**self.params(request))
        answer = Answer(usage=usage(done.usage.input_tokens, done.usage.output_tokens),
                        finish_reason=done.stop_reason)
        for block in done.content:
            answer.add(block.text if block.type == "text" else None)
        return answer.result(FILTERED_FINISH)

    def list_models(self) -> list[str]:
        with sdk_errors(map_error):
            return [m.id for m in self._client.models.list()]


def _default_max_tokens(model: str) -> int:
    from spoonfeeder import catalog  # the data file is read on first use

    return catalog.default_max_tokens("anthropic", model) or DEFAULT_MAX_TOKENS
