"""A pull's progress as `model:pull` event data, coalesced so a multi-gigabyte pull writes a bounded number of
events.

Ollama reports progress per layer (blob): lines `{"status": "pulling <digest>", "digest", "total", "completed"}`
(a zero `completed` or `total` is left out), phases such as "pulling manifest", "verifying sha256 digest" and
"writing manifest" without a digest, and "success" at the end. Each event carries `status`, `completed`,
`total` and `percent` (0-100, an integer, 100 only when complete) of what its line is about: the layer when it
has a `digest`, else the whole pull so far (the layers' bytes added up).

A line becomes an event when `every` seconds have passed since the last one, when it starts a new phase (a
status without a digest not reported before), or when its layer completes (once per layer: whoever counts
bytes per layer sees each layer's last byte); the end is always one event at 100 %.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OnProgress = Callable[[dict[str, Any]], None]
SUCCESS = "success"


def percent(completed: int, total: int) -> int:
    """Whole percent, rounded down: 100 only once everything is there."""
    return min(100, completed * 100 // total) if total > 0 else 0


@dataclass
class PullProgress:
    on_progress: OnProgress
    every: float = 0.25
    clock: Callable[[], float] = time.monotonic
    _layers: dict[str, tuple[int, int]] = field(default_factory=dict)  # digest -> (completed, total)
    _complete: set[str] = field(default_factory=set)  # layers whose completion was reported
    _phases: set[str] = field(default_factory=set)
    _last: float | None = None

    @property
    def total(self) -> int:
        return sum(total for _, total in self._layers.values())

    def _overall(self, status: str) -> dict[str, Any]:
        completed, total = sum(done for done, _ in self._layers.values()), self.total
        return {"status": status, "completed": completed, "total": total, "percent": percent(completed, total)}

    def add(self, status: str, digest: str | None, completed: int | None, total: int | None) -> None:
        """One progress line from Ollama; passes it on to `on_progress` when it is due."""
        if status == SUCCESS:
            self._layers = {d: (t, t) for d, (_, t) in self._layers.items()}
            self._emit({**self._overall(status), "percent": 100})
            return
        if digest:
            done, size = int(completed or 0), int(total or 0)
            known_done, known_size = self._layers.get(digest, (0, 0))
            done, size = max(done, known_done), size or known_size
            self._layers[digest] = (done, size)
            finished = size > 0 and done >= size and digest not in self._complete
            if finished:
                self._complete.add(digest)
            if finished or self._due():
                self._emit({"status": status, "digest": digest, "completed": done, "total": size,
                            "percent": percent(done, size)})
            return
        new_phase = status not in self._phases
        self._phases.add(status)
        if new_phase or self._due():
            self._emit(self._overall(status))

    def _due(self) -> bool:
        return self._last is None or self.clock() - self._last >= self.every

    def _emit(self, data: dict[str, Any]) -> None:
        self._last = self.clock()
        self.on_progress(data)
