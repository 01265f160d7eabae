"""Per-user request quotas and login throttling: fixed windows, counted in the table.

Answers carry X-RateLimit-Limit/Remaining/Reset/Window (seed 003); a refusal is 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class Ticket:
    """A request whose count rides in the transaction of the write it makes (create: one transaction and
    one send, DESIGN §4), instead of an UpdateItem of its own before it. `usage` is set once it is counted."""

    counters: Counters
    quota: Quota
    key: str
    reset_at: int
    usage: Usage | None = field(default=None)
    committed: bool = False  # the write carrying the increment succeeded: the request is counted

    @property
    def settled(self) -> bool:
        """Counted by its write, or refused by the quota; otherwise it still has to be counted."""
        return self.committed or self.usage is not None

    def increment(self) -> dict[str, Any]:
        """The transaction entry that counts this request; its condition fails past the quota."""
        return self.counters.increment_below(self.key, limit=self.quota.limit, expires_at=self.reset_at + 60)

    def counted(self) -> Usage:
        """After the transaction: how much of the quota is used now (read consistently)."""
        self.usage = Usage(self.quota, self.counters.get(self.key, consistent=True), self.reset_at)
        return self.usage

    def take(self) -> None:
        """Count the request on its own (its write did not carry the count, e.g. a replay); over the quota
        it is refused."""
        self.usage = Usage(self.quota, self.counters.add(self.key, expires_at=self.reset_at + 60), self.reset_at)
        if self.usage.exceeded:
            raise over_quota(self.usage)

    def refused(self) -> TooManyRequests:
        """The answer when the transaction's count was refused: the quota is used up."""
        self.usage = Usage(self.quota, self.quota.limit + 1, self.reset_at)
        return over_quota(self.usage)


def over_quota(usage: Usage) -> TooManyRequests:
    wait = usage.retry_after(_epoch())
    return TooManyRequests(f"more than {usage.quota.limit} requests a minute; slow down", code="RATE_LIMITED",
                           details={"retryAfter": wait}, headers={**usage.headers(), "Retry-After": str(wait)})


class RequestQuota:
    """Counts a user's requests: `take` records one now; `ticket` lets the request's own write count it."""

    def __init__(self, counters: Counters, quota: Quota) -> None:
        self.counters = counters
        self.quota = quota

    def _window_key(self, user: str) -> tuple[str, int]:
        start, end = _window(self.quota, _epoch())
        return f"RATE#{user}#{start}", end

    def take(self, user: str) -> Usage:
        key, end = self._window_key(user)
        return Usage(self.quota, self.counters.add(key, expires_at=end + 60), end)

    def ticket(self, user: str) -> Ticket:
        key, end = self._window_key(user)
        return Ticket(self.counters, self.quota, key, end)


def _hash(text: str) -> str:
    # Usernames are e-mail addresses and addresses are personal data: neither sits in the table in clear.
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class LoginThrottle:
    """Refuses sign-in before asking the user pool, counted two ways in one window:

    - failures for a username from one source address: `quota.limit` (an attacker's address is stopped);
    - failures for a username from all addresses: `PER_USERNAME_FACTOR` times as many, a looser cap
      against guessing spread over many addresses.

    An attacker at one address thus cannot lock the owner out: the owner, at another address, is refused
    only once the username as a whole passes the looser cap."""

    PER_USERNAME_FACTOR = 10

    def __init__(self, counters: Counters, quota: Quota) -> None:
        self.counters = counters
        self.quota = quota

    def _keys(self, username: str, source: str, start: int) -> list[tuple[str, int]]:
        user = _hash(username.strip().lower())
        return [(f"LOGINFAIL#{user}#{_hash(source)}#{start}", self.quota.limit),
                (f"LOGINFAIL#{user}#{start}", self.quota.limit * self.PER_USERNAME_FACTOR)]

    def check(self, username: str, source: str) -> None:
        now = _epoch()
        start, end = _window(self.quota, now)
        for key, limit in self._keys(username, source, start):
            if self.counters.get(key) >= limit:
                wait = max(1, end - now)
                raise TooManyRequests("too many failed sign-ins; try again later", code="LOGIN_THROTTLED",
                                      details={"retryAfter": wait}, headers={"Retry-After": str(wait)})

    def failed(self, username: str, source: str) -> None:
        start, end = _window(self.quota, _epoch())
        for key, _ in self._keys(username, source, start):
            self.counters.add(key, expires_at=end + 60)
