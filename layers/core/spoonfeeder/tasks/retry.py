"""Backoff between provider attempts: exponential with jitter, never sooner than the provider asked."""

from __future__ import annotations

import math
import random
from collections.abc import Callable


def backoff_seconds(
    delivery: int, *, base: float, cap: int, retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> int:
    """Seconds before delivery number `delivery + 1` (SQS visibility is whole seconds)."""
    exponential = base * 2 ** max(0, delivery - 1)
    delay = exponential / 2 + rand() * exponential / 2  # "equal jitter": spread, but never near zero
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(0, min(cap, math.ceil(delay)))
