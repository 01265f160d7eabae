"""Per-user request quotas and login throttling: fixed windows, counted in the table.

Answers carry X-RateLimit-Limit/Remaining/Reset/Window (seed 003); a refusal is 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from spoonfeeder import ids
from spoonfeeder.data.counters import Counters
from spoonfeeder.errors import TooManyRequests


@dataclass(frozen=True)
class Quota:
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Usage:
    quota: Quota
    used: int
    reset_at: int  # epoch seconds

    @property
    def exceeded(self) -> bool:
        return self.used > self.quota.limit

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.quota.limit),
            "X-RateLimit-Remaining": str(max(0, self.quota.limit - self.used)),
            "X-RateLimit-Reset": str(self.reset_at),
            "X-RateLimit-Window": str(self.quota.window_seconds),
        }

    def retry_after(self, now: int) -> int:
        return max(1, self.reset_at - now)


def _window(quota: Quota, now: int) -> tuple[int, int]:
    start = now - now % quota.window_seconds
    return start, start + quota.window_seconds


def _epoch() -> int:
    return int(ids.now().timestamp())


class RequestQuota:
    """Counts a user's requests; `take` records one and says whether it was within the quota."""

    def __init__(self, counters: Counters, quota: Quota) -> None:
        self.counters = counters
        self.quota = quota

    def take(self, user: str) -> Usage:
        start, end = _window(self.quota, _epoch())
        used = self.counters.add(f"RATE#{user}#{start}", expires_at=end + 60)
        return Usage(self.quota, used, end)


class LoginThrottle:
    """Refuses sign-in for a username after too many failures in a window, before asking the user pool."""

    def __init__(self, counters: Counters, quota: Quota) -> None:
        self.counters = counters
        self.quota = quota

    def _key(self, username: str, start: int) -> str:
        # Hashed: usernames are e-mail addresses and need not sit in the table in clear.
        return f"LOGINFAIL#{hashlib.sha256(username.strip().lower().encode()).hexdigest()}#{start}"

    def check(self, username: str) -> None:
        now = _epoch()
        start, end = _window(self.quota, now)
        if self.counters.get(self._key(username, start)) >= self.quota.limit:
            wait = max(1, end - now)
            raise TooManyRequests("too many failed sign-ins; try again later", code="LOGIN_THROTTLED",
                                  details={"retryAfter": wait}, headers={"Retry-After": str(wait)})

    def failed(self, username: str) -> None:
        start, end = _window(self.quota, _epoch())
        self.counters.add(self._key(username, start), expires_at=end + 60)
