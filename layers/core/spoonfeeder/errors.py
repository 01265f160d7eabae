"""One error hierarchy; the API turns each into the error envelope with its status and code."""

from __future__ import annotations

from typing import Any, ClassVar


class SpoonError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(
        self, message: str, *, code: str | None = None, details: Any = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}
        if code:
            self.code = code  # type: ignore[misc]


class ValidationFailed(SpoonError):
    status = 400
    code = "VALIDATION_ERROR"


class Unauthorized(SpoonError):
    status = 401
    code = "UNAUTHORIZED"


class Forbidden(SpoonError):
    status = 403
    code = "FORBIDDEN"


class NotFound(SpoonError):
    status = 404
    code = "NOT_FOUND"


class Conflict(SpoonError):
    status = 409
    code = "CONFLICT"


class PayloadTooLarge(SpoonError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class Unprocessable(SpoonError):
    status = 422
    code = "UNPROCESSABLE"


class TooManyRequests(SpoonError):
    status = 429
    code = "RATE_LIMITED"


class ServiceUnavailable(SpoonError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
