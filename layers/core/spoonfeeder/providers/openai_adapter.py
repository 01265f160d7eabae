"""OpenAI and any OpenAI-compatible endpoint, on the official `openai` SDK (imported only when used).

Chat Completions: the system prompt is the first message, `response_format` goes as is, and the
provider options (models/provider_options.OpenAIOptions) are top-level parameters.
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
    import openai

#: OpenAI's particular rows, by its error `code` (the common rows by HTTP status follow).
ERROR_ROWS = (
    Row(ErrorCode.CONTEXT_TOO_LONG, kind="context_length_exceeded"),
    Row(ErrorCode.CONTENT_FILTERED, kind="content_policy_violation"),  # dall-e
    Row(ErrorCode.CONTENT_FILTERED, kind="moderation_blocked"),  # gpt-image
    Row(ErrorCode.CONTENT_FILTERED, kind="content_filter"),
    Row(ErrorCode.MODEL_NOT_FOUND, kind="model_not_found"),
    Row(ErrorCode.INVALID_API_KEY, kind="invalid_api_key"),
    # A 429 that waiting does not cure: the account's credit is used up.
    Row(ErrorCode.PERMISSION_DENIED, kind="insufficient_quota"),
)
#: Finish reasons that mean a filter stopped the answer (Azure OpenAI and others report it this way).
FILTERED_FINISH = frozenset({"content_filter"})


def map_error(exc: Exception) -> ProviderError | None:
    """The SDK's failures as task error codes (DESIGN §7); None for anything else."""
    import openai

    return stainless_error(openai, ERROR_ROWS, exc)


def _usage(raw: Any) -> dict[str, int] | None:
    return usage(raw.prompt_tokens, raw.completion_tokens) if raw is not None else None


def new_client(credentials: Credentials, *, timeout: float) -> openai.OpenAI:
    """The SDK's client, with its retries off: the task machinery is the one retry loop."""
    import openai

    return openai.OpenAI(api_key=credentials.api_key, base_url=credentials.base_url, max_retries=0, timeout=timeout)


class OpenAIProvider(ListsModels):
    def __init__(self, credentials: Credentials, *, timeout: float) -> None:
        self._client: openai.OpenAI = new_client(credentials, timeout=timeout)

    @staticmethod
    def params(request: TextRequest) -> dict[str, Any]:
        """The Chat Completions parameters of a neutral request."""
        system = [{"role": "system", "content": request.system}] if request.system else []
        return {"model": request.model, "messages": [*system, *request.messages], **request.options,
                **request.provider_options}

    def stream(self, request: TextRequest, on_delta: OnDelta) -> TextResult:
        answer = Answer(on_delta)
        with sdk_errors(map_error):
            chunks = self._client.chat.completions.create(
                **self.params(request), stream=True, stream_options={"include_usage": True},
            )
            for chunk in chunks:
                answer.usage = _usage(chunk.usage) or answer.usage
                for choice in chunk.choices:
                    answer.add(choice.delta.content if choice.delta else None)
                    answer.finish_reason = choice.finish_reason or answer.finish_reason
        return answer.result(FILTERED_FINISH)

    def generate(self, request: TextRequest) -> TextResult:
        with sdk_errors(map_error):
            done = self._client.chat.completions.create(**self.params(request))
        choice = done.choices[0]
        answer = Answer(usage=_usage(done.usage), finish_reason=choice.finish_reason)
        answer.add(choice.message.content)
        return answer.result(FILTERED_FINISH)

    def list_models(self) -> list[str]:
        with sdk_errors(map_error):
            return [m.id for m in self._client.models.list()]
