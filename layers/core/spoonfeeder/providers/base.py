"""The provider interface and the one error type every adapter maps its SDK's errors to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Credentials:
    api_key: str = field(repr=False)  # never printed, logged or returned
    base_url: str | None = None
    simulated: bool = False


@dataclass(frozen=True)
class TextRequest:
    model: str
    messages: list[dict[str, str]]
    options: dict[str, Any]


@dataclass
class TextResult:
    text: str
    usage: dict[str, int] | None = None
    finish_reason: str | None = None


class ProviderError(Exception):
    """A provider call failed. `retryable` failures are retried with backoff; others fail the task at once."""

    def __init__(
        self, code: str, message: str, *, retryable: bool, retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


OnDelta = Callable[[str], None]


class TextProvider(Protocol):
    def stream(self, request: TextRequest, on_delta: OnDelta) -> TextResult: ...

    def generate(self, request: TextRequest) -> TextResult: ...

    def test_connection(self) -> None: ...

    def list_models(self) -> list[str]: ...
