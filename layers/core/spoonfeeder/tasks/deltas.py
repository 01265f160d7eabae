"""Coalescing of streamed tokens: a stream costs a few event writes a second, not one per token."""

from __future__ import annotations

import time
from collections.abc import Callable


class TaskNoLongerRunning(Exception):
    """The task left `running` (cancelled, taken over) while its output streamed; stop generating."""


class DeltaCoalescer:
    def __init__(
        self, flush: Callable[[str, int], bool], *, interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._flush = flush
        self._interval = interval
        self._clock = clock
        self._buffer: list[str] = []
        self._last = clock()
        self.flushes = 0

    def add(self, text: str) -> None:
        self._buffer.append(text)
        if self._clock() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Record what is buffered as one delta; raises TaskNoLongerRunning if the task has moved on."""
        self._last = self._clock()
        if not self._buffer:
            return
        text = "".join(self._buffer)
        self._buffer.clear()
        if not self._flush(text, self.flushes):
            raise TaskNoLongerRunning
        self.flushes += 1
