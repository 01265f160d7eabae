"""A pull's progress lines as coalesced `model:pull` event data (a clock the test moves)."""

from __future__ import annotations

from typing import Any

from spoon_agent.pull_progress import PullProgress, percent

W, T = "sha256:weights", "sha256:template"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress(every: float = 0.25) -> tuple[PullProgress, list[dict[str, Any]], Clock]:
    events: list[dict[str, Any]] = []
    clock = Clock()
    return PullProgress(events.append, every=every, clock=clock), events, clock


def test_percent_is_whole_and_100_only_when_complete() -> None:
    assert percent(0, 0) == 0 and percent(999, 1000) == 99 and percent(1000, 1000) == 100
    assert percent(5, 4) == 100


def test_lines_within_the_interval_are_dropped_but_a_layer_completion_is_not() -> None:
    pull, events, clock = progress()
    pull.add("pulling manifest", None, None, None)
    pull.add("pulling weights", W, None, 1000)  # within 0.25 s of the last event: dropped
    clock.now = 0.1
    pull.add("pulling weights", W, 400, 1000)  # dropped
    clock.now = 0.3
    pull.add("pulling weights", W, 600, 1000)  # due
    clock.now = 0.35
    pull.add("pulling weights", W, 1000, 1000)  # the layer's last byte: always
    pull.add("pulling weights", W, 1000, 1000)  # already told
    assert events == [
        {"status": "pulling manifest", "completed": 0, "total": 0, "percent": 0},
        {"status": "pulling weights", "digest": W, "completed": 600, "total": 1000, "percent": 60},
        {"status": "pulling weights", "digest": W, "completed": 1000, "total": 1000, "percent": 100},
    ]


def test_phases_and_the_end_are_told_with_the_whole_pull() -> None:
    pull, events, _ = progress(every=60)
    pull.add("pulling manifest", None, None, None)
    pull.add("pulling weights", W, 500, 1000)
    pull.add("pulling template", T, 10, 100)
    pull.add("verifying sha256 digest", None, None, None)
    pull.add("verifying sha256 digest", None, None, None)  # the same phase again: not due
    pull.add("success", None, None, None)
    assert [e["status"] for e in events] == ["pulling manifest", "verifying sha256 digest", "success"]
    assert events[1] == {"status": "verifying sha256 digest", "completed": 510, "total": 1100, "percent": 46}
    assert events[2] == {"status": "success", "completed": 1100, "total": 1100, "percent": 100}
    assert pull.total == 1100


def test_a_layer_never_goes_back() -> None:
    pull, events, _ = progress(every=0)
    pull.add("pulling weights", W, 700, 1000)
    pull.add("pulling weights", W, 300, None)  # a resumed download may repeat older figures
    assert events[-1]["completed"] == 700 and events[-1]["total"] == 1000
