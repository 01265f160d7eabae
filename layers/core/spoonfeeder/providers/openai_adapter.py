"""OpenAI and any OpenAI-compatible endpoint, on the official `openai` SDK (imported only when used)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spoonfeeder.providers.base import Credentials, OnDelta, ProviderError, TextRequest, TextResult

if TYPE_CHECKING:
    import openai


def _retry_after(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name) if headers is not None else None
        if raw:
            try:
                return float(raw) / scale
            except ValueError:
                return None
    return None


def map_error(exc: Exception) -> ProviderError:
    """Translate the SDK's exceptions into the task machinery's retry rules (DESIGN §4)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("PROVIDER_TIMEOUT", "the provider did not answer in time", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("PROVIDER_UNREACHABLE", "could not reach the provider", retryable=True)
    if not isinstance(exc, openai.APIStatusError):
        return ProviderError("PROVIDER_ERROR", str(exc), retryable=True)
    status = exc.status_code
    message = exc.message
    if status == 401:
        return ProviderError("INVALID_API_KEY", "the provider rejected the API key", retryable=False, status=status)
    if status == 429:
        return ProviderError("RATE_LIMITED", message, retryable=True, status=status,
                             retry_after=_retry_after(exc.response.headers))
    if status >= 500 or status in (408, 409):
        return ProviderError("PROVIDER_UNAVAILABLE", message, retryable=True, status=status,
                             retry_after=_retry_after(exc.response.headers))
    if status == 403:
        return ProviderError("PROVIDER_FORBIDDEN", message, retryable=False, status=status)
    if status == 404:
        return ProviderError("MODEL_NOT_FOUND", message, retryable=False, status=status)
    body = exc.body if isinstance(exc.body, dict) else {}
    if body.get("code") == "content_policy_violation":
        return ProviderError("CONTENT_REFUSED", message, retryable=False, status=status)
    return ProviderError("PROVIDER_BAD_REQUEST", message, retryable=False, status=status)


class OpenAIProvider:
    def __init__(self, credentials: Credentials, *, timeout: float) -> None:
        import openai

        # SDK retries are off: the task machinery is the one retry loop.
        self._client: openai.OpenAI = openai.OpenAI(
            api_key=credentials.api_key, base_url=credentials.base_url, max_retries=0, timeout=timeout,
        )

    def _params(self, request: TextRequest) -> dict[str, Any]:
        return {"model": request.model, "messages": request.messages, **request.options}

    def stream(self, request: TextRequest, on_delta: OnDelta) -> TextResult:
        parts: list[str] = []
        usage = None
        finish = None
        try:
            chunks = self._client.chat.completions.create(
                **self._params(request), stream=True, stream_options={"include_usage": True},
            )
            for chunk in chunks:
                if chunk.usage is not None:
                    usage = _usage(chunk.usage)
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        parts.append(choice.delta.content)
                        on_delta(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except Exception as exc:
            if isinstance(exc, ProviderError) or not _is_sdk_error(exc):
                raise
            raise map_error(exc) from exc
        return TextResult("".join(parts), usage, finish)

    def generate(self, request: TextRequest) -> TextResult:
        try:
            done = self._client.chat.completions.create(**self._params(request))
        except Exception as exc:
            if not _is_sdk_error(exc):
                raise
            raise map_error(exc) from exc
        choice = done.choices[0]
        usage = _usage(done.usage) if done.usage else None
        return TextResult(choice.message.content or "", usage, choice.finish_reason)

    def test_connection(self) -> None:
        self.list_models()

    def list_models(self) -> list[str]:
        try:
            return [m.id for m in self._client.models.list()]
        except Exception as exc:
            if not _is_sdk_error(exc):
                raise
            raise map_error(exc) from exc


def _usage(usage: Any) -> dict[str, int]:
    """OpenAI's usage under the neutral names every adapter reports."""
    return {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens}


def _is_sdk_error(exc: Exception) -> bool:
    import openai

    return isinstance(exc, openai.OpenAIError)
