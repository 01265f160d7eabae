"""Coalescing of streamed tokens: a stream costs a few event writes a second, not one per token.

A delta event also stays small in bytes: a buffer that reaches `max_bytes` of UTF-8 is written at once, and
text larger than that (one huge chunk from a provider) is split over several delta events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

DELTA_MAX_BYTES = 16 * 1024


class TaskNoLongerRunning(Exception):
    """The task left `running` (cancelled, taken over) while its output streamed; stop generating."""


def utf8_pieces(text: str, max_bytes: int) -> Iterator[str]:
    """`text` cut into pieces of at most `max_bytes` UTF-8 bytes, never inside a character."""
    piece: list[str] = []
    size = 0
    for char in text:
        width = len(char.encode("utf-8", "surrogatepass"))
        if piece and size + width > max_bytes:
            yield "".join(piece)
            piece, size = [], 0
        piece.append(char)
        size += width
    if piece:
        yield "".join(piece)


class DeltaCoalescer:
    def __init__(
        self, flush: Callable[[str, int], bool], *, interval: float, max_bytes: int = DELTA_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._flush = flush
        self._interval = interval
        self._max_bytes = max_bytes
        self._clock = clock
        self._buffer: list[str] = []
        self._buffered_bytes = 0
        self._last = clock()
        self.flushes = 0

    def add(self, text: str) -> None:
        self._buffer.append(text)
        self._buffered_bytes += len(text.encode("utf-8", "surrogatepass"))
        if self._buffered_bytes >= self._max_bytes or self._clock() - self._last >= self._interval:
            self.flush()

    def take(self) -> list[dict[str, object]]:
        """What is buffered, as the data of the delta events still to record, and the buffer emptied: the
        caller records them with its own next write (the run's completion), instead of a write of their own."""
        text = "".join(self._buffer)
        self._buffer.clear()
        self._buffered_bytes = 0
        pieces: list[dict[str, object]] = []
        for piece in utf8_pieces(text, self._max_bytes) if text else ():
            pieces.append({"text": piece, "index": self.flushes})
            self.flushes += 1
        return pieces

    def flush(self) -> None:
        """Record what is buffered as delta events; raises TaskNoLongerRunning if the task has moved on."""
        self._last = self._clock()
        if not self._buffer:
            return
        text = "".join(self._buffer)
        self._buffer.clear()
        self._buffered_bytes = 0
        for piece in utf8_pieces(text, self._max_bytes):
            if not self._flush(piece, self.flushes):
                raise TaskNoLongerRunning
            self.flushes += 1
