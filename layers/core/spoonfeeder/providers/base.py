"""The provider interface: one neutral request and result, and the one error type every adapter maps to.

Adapters translate a `TextRequest` into their provider's wire format and their SDK's failures into a
`ProviderError` with one of the `ErrorCode`s (the task's error codes, DESIGN §7); `RETRYABLE` says which the
task machinery retries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from spoonfeeder.models.kinds import UNSUPPORTED


@dataclass(frozen=True)
class Credentials:
    api_key: str = field(repr=False)  # never printed, logged or returned
    base_url: str | None = None
    simulated: bool = False


@dataclass(frozen=True)
class TextRequest:
    """What to generate, the same for every provider: `messages` are user/assistant turns (the last one the
    user's), `system` the instructions, `options` the neutral generation options (models/tasks.TextOptions)
    and `provider_options` the ones only this provider has (validated per provider at create)."""

    model: str
    messages: list[dict[str, str]]
    system: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    provider_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_snapshot(cls, snapshot: dict[str, Any], *, provider: str | None = None,
                    model: str | None = None) -> TextRequest:
        """The request a snapshot asked for, sent to `provider`/`model` (the task's current pair, which a
        fallback chain may have moved on from the snapshot's): on another provider, the first one's
        `provider_options` and the options this one does not take are left out."""
        messages = list(snapshot["messages"])
        system = snapshot.get("system")
        # Snapshots written before `system` had its own field carry it as a first message with role system.
        if messages and messages[0].get("role") == "system":
            system = system or messages.pop(0).get("content")
        options = dict(snapshot.get("options") or {})
        provider_options = snapshot.get("provider_options") or {}
        if provider is not None and provider != snapshot.get("provider", provider):
            options = {k: v for k, v in options.items() if k not in UNSUPPORTED.get(provider, frozenset())}
            provider_options = {}
        return cls(model=model or snapshot["model"], messages=messages, system=system, options=options,
                   provider_options=provider_options)


def usage(input_tokens: int | None, output_tokens: int | None) -> dict[str, int]:
    """Token counts under the neutral names every provider's usage is stored with."""
    given, made = input_tokens or 0, output_tokens or 0
    return {"input_tokens": given, "output_tokens": made, "total_tokens": given + made}


@dataclass
class TextResult:
    text: str
    usage: dict[str, int] | None = None
    finish_reason: str | None = None


class ErrorCode(StrEnum):
    INVALID_API_KEY = "INVALID_API_KEY"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    RATE_LIMITED = "RATE_LIMITED"
    BAD_REQUEST = "BAD_REQUEST"
    CONTEXT_TOO_LONG = "CONTEXT_TOO_LONG"
    CONTENT_FILTERED = "CONTENT_FILTERED"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    TIMEOUT = "TIMEOUT"


#: Failures that may pass (a busy or briefly unreachable provider); every other code fails the task at once.
RETRYABLE = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.PROVIDER_UNAVAILABLE, ErrorCode.TIMEOUT})

_DESCRIPTIONS = {
    ErrorCode.INVALID_API_KEY: "the provider rejected the API key",
    ErrorCode.PERMISSION_DENIED: "the API key may not use this model or feature",
    ErrorCode.RATE_LIMITED: "the provider's rate limit was reached",
    ErrorCode.BAD_REQUEST: "the provider refused the request",
    ErrorCode.CONTEXT_TOO_LONG: "the input is longer than the model's context window",
    ErrorCode.CONTENT_FILTERED: "the provider's safety filter blocked the request or the answer",
    ErrorCode.MODEL_NOT_FOUND: "the provider does not know this model",
    ErrorCode.PROVIDER_UNAVAILABLE: "the provider is unavailable or overloaded",
    ErrorCode.TIMEOUT: "the provider did not answer in time",
}
PROVIDER_MESSAGE_MAX_CHARS = 500
# Key-shaped words (OpenAI sk-…, Anthropic sk-ant-…, Google AIza…), masked or not: a provider may echo part of
# the key in its message, and no part of one is ever stored.
_KEY_LIKE = re.compile(r"\b(?:sk-|AIza)[\w\-*.]*")


class ProviderError(Exception):
    """A provider call failed. `retryable` failures are retried with backoff; others fail the task at once.
    `status` and `provider_message` are the provider's own HTTP status and words, kept in the task's
    `error.details`."""

    def __init__(
        self, code: str, message: str, *, retryable: bool, retry_after: float | None = None,
        status: int | None = None, provider_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.provider_message = provider_message

    @classmethod
    def of(cls, code: ErrorCode, *, status: int | None = None, provider_message: str | None = None,
           retry_after: float | None = None) -> ProviderError:
        return cls(code, _DESCRIPTIONS[code], retryable=code in RETRYABLE, retry_after=retry_after,
                   status=status, provider_message=provider_message)

    @property
    def details(self) -> dict[str, Any] | None:
        if self.status is None and self.provider_message is None:
            return None
        said = _KEY_LIKE.sub("[redacted]", self.provider_message or "")[:PROVIDER_MESSAGE_MAX_CHARS]
        return {"provider_message": said, "provider_status": self.status}


@contextmanager
def sdk_errors(to_error: Callable[[Exception], ProviderError | None]) -> Iterator[None]:
    """Turn the SDK's own exceptions raised inside the block into ProviderErrors (`to_error` gives None for any
    other exception, which goes through as it is)."""
    try:
        yield
    except ProviderError:
        raise
    except Exception as exc:
        err = to_error(exc)
        if err is None:
            raise
        raise err from exc


class ListsModels:
    """An adapter whose connection test is listing the models: cheap, and it needs a valid key."""

    def list_models(self) -> list[str]:
        raise NotImplementedError

    def test_connection(self) -> None:
        self.list_models()


OnDelta = Callable[[str], None]


@dataclass
class Answer:
    """The text of an answer as it streams: each piece is passed on to `on_delta` and kept; `result` checks
    the finish reason against the provider's ones that mean a safety filter stopped the answer."""

    on_delta: OnDelta = lambda text: None
    parts: list[str] = field(default_factory=list)
    usage: dict[str, int] | None = None
    finish_reason: str | None = None

    def add(self, text: str | None) -> None:
        if text:
            self.parts.append(text)
            self.on_delta(text)

    def result(self, filtered: frozenset[str] = frozenset()) -> TextResult:
        if self.finish_reason in filtered:
            raise ProviderError.of(ErrorCode.CONTENT_FILTERED, provider_message=f"finish reason {self.finish_reason}")
        return TextResult("".join(self.parts), self.usage, self.finish_reason)


class TextProvider(Protocol):
    def stream(self, request: TextRequest, on_delta: OnDelta) -> TextResult: ...

    def generate(self, request: TextRequest) -> TextResult: ...

    def test_connection(self) -> None: ...

    def list_models(self) -> list[str]: ...
