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


class SeenCounts:
    """The last count this warm container saw for each window key (its own requests and every count it read),
    so that a create can count itself exactly without reading the counter (see `Ticket`). Counts only grow
    within a window, so a value here is never above the real one (unless the counter item was deleted: the next
    miss corrects it). Bounded: the oldest keys go first."""

    def __init__(self, max_keys: int = 4096) -> None:
        self._counts: dict[str, int] = {}
        self.max_keys = max_keys

    def get(self, key: str) -> int:
        return self._counts.get(key, 0)

    def saw(self, key: str, count: int) -> None:
        self._counts.pop(key, None)  # re-inserted last: the most recently used key is the last evicted
        self._counts[key] = count
        while len(self._counts) > self.max_keys:
            del self._counts[next(iter(self._counts))]


@dataclass
class Ticket:
    """One request's count against its user's quota, for a write that carries the count in its own transaction
    (create: one transaction and one send, DESIGN §4) instead of an UpdateItem before it.

    The entry is conditioned on the counter being exactly the count this container last saw, so after the
    transaction the new count is that plus one: the X-RateLimit-Remaining header is exact without reading the
    counter. When another container counted meanwhile the condition fails, and the cancellation carries the
    real count: past the quota the request is refused (nothing was written), else it is tried again with it.
    After EXACT_TRIES misses (many containers counting for one user at once), the entry only requires the
    count to be below the quota and the new count is read after the write. `usage` is set once counted."""

    EXACT_TRIES = 3

    counters: Counters
    quota: Quota
    key: str
    reset_at: int
    seen: SeenCounts
    usage: Usage | None = field(default=None)
    tries: int = field(default=0, init=False)
    expected: int | None = field(default=None, init=False)  # the count the current entry requires

    def entry(self) -> dict[str, Any]:
        """The transaction entry that counts this request; a user known to be past the quota is refused here,
        before anything is written."""
        known = self.seen.get(self.key)
        if known >= self.quota.limit:
            raise self._refused()
        self.expected = known if self.tries < self.EXACT_TRIES else None
        self.tries += 1
        return self.counters.increment_entry(self.key, expires_at=self.reset_at + 60, seen=self.expected,
                                             limit=self.quota.limit)

    def conflict(self, current: int) -> None:
        """The entry's condition failed with the counter at `current`: refused past the quota, else the
        caller tries again with a new `entry()`."""
        self.seen.saw(self.key, current)
        if current >= self.quota.limit:
            raise self._refused()

    def committed(self) -> Usage:
        """The write carrying the entry succeeded: the request is counted, and this is the quota's use now."""
        used = self.counters.get(self.key, consistent=True) if self.expected is None else self.expected + 1
        return self._used(used)

    def take(self) -> Usage:
        """Count the request on its own (its write did not carry the count: bad input, a replay)."""
        return self._used(self.counters.add(self.key, expires_at=self.reset_at + 60))

    def _used(self, count: int) -> Usage:
        self.seen.saw(self.key, count)
        self.usage = Usage(self.quota, count, self.reset_at)
        return self.usage

    def _refused(self) -> TooManyRequests:
        self.usage = Usage(self.quota, self.quota.limit + 1, self.reset_at)  # not counted: nothing was done
        return over_quota(self.usage)


def over_quota(usage: Usage) -> TooManyRequests:
    wait = usage.retry_after(_epoch())
    return TooManyRequests(f"more than {usage.quota.limit} requests a minute; slow down", code="RATE_LIMITED",
                           details={"retryAfter": wait}, headers={**usage.headers(), "Retry-After": str(wait)})


class RequestQuota:
    """Counts a user's requests: `take` records one now; `ticket` lets the request's own write count it. One
    per warm container: it keeps the counts it has seen (`SeenCounts`)."""

    def __init__(self, counters: Counters, quota: Quota) -> None:
        self.counters = counters
        self.quota = quota
        self.seen = SeenCounts()

    def ticket(self, user: str) -> Ticket:
        start, end = _window(self.quota, _epoch())
        return Ticket(self.counters, self.quota, f"RATE#{user}#{start}", end, self.seen)

    def take(self, user: str) -> Usage:
        return self.ticket(user).take()


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
