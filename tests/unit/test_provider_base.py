"""The error tables' rules, what a provider error keeps of the provider's words, and reading a request snapshot."""

from __future__ import annotations

import pytest
from spoonfeeder.providers import anthropic_adapter, gemini_adapter, openai_adapter
from spoonfeeder.providers.base import PROVIDER_MESSAGE_MAX_CHARS, ErrorCode, ProviderError
from spoonfeeder.providers.errors import classify, retry_after


@pytest.mark.parametrize(("rows", "status", "kind", "message", "code"), [
    # A provider's own row wins over the common row for the same status.
    (openai_adapter.ERROR_ROWS, 400, "context_length_exceeded", "too long", ErrorCode.CONTEXT_TOO_LONG),
    (openai_adapter.ERROR_ROWS, 429, "insufficient_quota", "You exceeded your current quota",
     ErrorCode.PERMISSION_DENIED),
    (openai_adapter.ERROR_ROWS, 429, "rate_limit_exceeded", "Rate limit reached", ErrorCode.RATE_LIMITED),
    (anthropic_adapter.ERROR_ROWS, 400, "invalid_request_error", "Prompt is too long: 5 > 4",
     ErrorCode.CONTEXT_TOO_LONG),
    (anthropic_adapter.ERROR_ROWS, 400, "invalid_request_error", "max_tokens: too large", ErrorCode.BAD_REQUEST),
    (gemini_adapter.ERROR_ROWS, 400, "INVALID_ARGUMENT", "API key not valid.", ErrorCode.INVALID_API_KEY),
    (gemini_adapter.ERROR_ROWS, 400, "INVALID_ARGUMENT", "Invalid JSON payload", ErrorCode.BAD_REQUEST),
    # The common rows by status, and the fallbacks.
    (openai_adapter.ERROR_ROWS, 401, None, "", ErrorCode.INVALID_API_KEY),
    (openai_adapter.ERROR_ROWS, 408, None, "", ErrorCode.TIMEOUT),
    (anthropic_adapter.ERROR_ROWS, 529, "overloaded_error", "Overloaded", ErrorCode.PROVIDER_UNAVAILABLE),
    (gemini_adapter.ERROR_ROWS, 502, None, "bad gateway", ErrorCode.PROVIDER_UNAVAILABLE),
    (gemini_adapter.ERROR_ROWS, 422, None, "", ErrorCode.BAD_REQUEST),
    (anthropic_adapter.ERROR_ROWS, None, "overloaded_error", "Overloaded", ErrorCode.PROVIDER_UNAVAILABLE),
])
def test_tables_map_status_kind_and_message(rows: tuple, status: int | None, kind: str | None, message: str,
                                            code: ErrorCode) -> None:
    assert classify(rows, status, kind, message) == code


def test_retry_after_prefers_milliseconds_and_ignores_nonsense() -> None:
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after(None) is None


def test_gemini_retry_delay_comes_from_its_retry_info() -> None:
    body = {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "23s"}]}}
    assert gemini_adapter._retry_delay(body) == 23.0
    assert gemini_adapter._retry_delay({"error": {"details": [{"retryDelay": "soon"}]}}) is None


def test_details_keep_the_providers_words_bounded_and_without_keys() -> None:
    said = "Incorrect API key provided: sk-proj-abc****wxyz. Also AIzaSyD-secret here. " + "x" * 2000
    err = ProviderError.of(ErrorCode.INVALID_API_KEY, status=401, provider_message=said)
    assert err.details is not None and err.details["provider_status"] == 401
    kept = err.details["provider_message"]
    assert "wxyz" not in kept and "AIza" not in kept and "secret" not in kept and "[redacted]" in kept
    assert len(kept) == PROVIDER_MESSAGE_MAX_CHARS
    assert err.message == "the provider rejected the API key" and err.retryable is False


def test_retryability_follows_the_code() -> None:
    assert [c for c in ErrorCode if ProviderError.of(c).retryable] == [
        ErrorCode.RATE_LIMITED, ErrorCode.PROVIDER_UNAVAILABLE, ErrorCode.TIMEOUT]


def test_a_snapshot_from_before_the_system_field_still_runs() -> None:
    from spoonfeeder.providers.base import TextRequest

    old = {"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
           "options": {"temperature": 0.1}}
    request = TextRequest.of_snapshot(old)
    assert (request.system, request.messages, request.options) == (
        "be brief", [{"role": "user", "content": "hi"}], {"temperature": 0.1})


def test_a_fallback_to_another_provider_sends_only_what_that_provider_takes() -> None:
    from spoonfeeder.providers.base import TextRequest

    snapshot = {"provider": "openai", "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
                "options": {"temperature": 0.3, "max_tokens": 20}, "provider_options": {"presence_penalty": 1.0}}
    same = TextRequest.of_snapshot(snapshot, provider="openai", model="gpt-4.1-mini")
    assert (same.model, same.options, same.provider_options) == (
        "gpt-4.1-mini", {"temperature": 0.3, "max_tokens": 20}, {"presence_penalty": 1.0})
    other = TextRequest.of_snapshot(snapshot, provider="anthropic", model="claude-haiku-4-5")
    assert (other.model, other.options, other.provider_options) == ("claude-haiku-4-5", {"max_tokens": 20}, {})
