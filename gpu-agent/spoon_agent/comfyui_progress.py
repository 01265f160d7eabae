"""A ComfyUI run's progress as `generation:progress` event data `{"node", "value", "max", "percent"}`, coalesced.

The overall percent counts every node of the workflow alike: a node served from cache, executed or reported
finished counts whole, the running one by its `value/max` (sampler steps). It only goes up (a reconnect replays
`executing` for the node already running, `progress_state` may arrive late), stays below 100 until `finish`,
and an event goes out at most every `every` seconds, except the first and the final 100.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

OnProgress = Callable[[dict[str, Any]], None]
DONE_STATES = frozenset({"finished"})


@dataclass
class RunProgress:
    on_progress: OnProgress
    nodes: int
    every: float = 0.25
    clock: Callable[[], float] = time.monotonic
    _fractions: dict[str, float] = field(default_factory=dict)  # node -> 0..1
    _current: dict[str, Any] = field(default_factory=lambda: {"node": None, "value": 0, "max": 1})
    _percent: int = 0
    _last: float | None = None

    @property
    def percent(self) -> int:
        return self._percent

    def _set(self, node: Any, fraction: float) -> None:
        node = str(node)
        self._fractions[node] = max(self._fractions.get(node, 0.0), min(1.0, max(0.0, fraction)))

    def add(self, kind: str, data: Mapping[str, Any]) -> None:
        """One WebSocket message of our prompt; passes the progress on when it is due."""
        if kind == "execution_cached":
            for node in data.get("nodes") or []:
                self._set(node, 1.0)
        elif kind == "executing" and data.get("node") is not None:
            self._set(data["node"], 0.0)
            self._current = {"node": str(data["node"]), "value": 0, "max": 1}
        elif kind == "progress" and data.get("node") is not None:
            value, most = data.get("value") or 0, data.get("max") or 0
            self._set(data["node"], value / most if most else 0.0)
            self._current = {"node": str(data["node"]), "value": value, "max": most}
        elif kind == "progress_state":
            for node, state in (data.get("nodes") or {}).items():
                if isinstance(state, Mapping):
                    most = state.get("max") or 0
                    done = state.get("state") in DONE_STATES
                    self._set(node, 1.0 if done else (state.get("value") or 0) / most if most else 0.0)
        elif kind == "executed" and data.get("node") is not None:
            self._set(data["node"], 1.0)
        else:
            return
        overall = int(sum(self._fractions.values()) * 100 // max(self.nodes, len(self._fractions), 1))
        self._percent = max(self._percent, min(99, overall))
        if self._last is None or self.clock() - self._last >= self.every:
            self._emit()

    def finish(self) -> None:
        """The run succeeded: one last event at 100 %."""
        self._percent = 100
        self._emit()

    def _emit(self) -> None:
        self._last = self.clock()
        self.on_progress({**self._current, "percent": self._percent})
