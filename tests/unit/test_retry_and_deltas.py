from __future__ import annotations

import pytest
from spoonfeeder.tasks.deltas import DeltaCoalescer, TaskNoLongerRunning
from spoonfeeder.tasks.retry import backoff_seconds


def test_backoff_grows_exponentially_within_jitter() -> None:
    lows = [backoff_seconds(n, base=2, cap=900, rand=lambda: 0.0) for n in (1, 2, 3, 4)]
    highs = [backoff_seconds(n, base=2, cap=900, rand=lambda: 1.0) for n in (1, 2, 3, 4)]
    assert lows == [1, 2, 4, 8]
    assert highs == [2, 4, 8, 16]


def test_backoff_honours_retry_after_and_the_cap() -> None:
    assert backoff_seconds(1, base=1, cap=900, retry_after=7.2, rand=lambda: 0.0) == 8
    assert backoff_seconds(30, base=2, cap=900, rand=lambda: 1.0) == 900


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_coalescer_flushes_at_most_once_per_interval() -> None:
    clock, written = Clock(), []
    coalescer = DeltaCoalescer(lambda text, i: written.append((i, text)) is None, interval=0.2, clock=clock)
    for token in ["a", "b", "c"]:
        coalescer.add(token)
        clock.t += 0.05
    clock.t += 0.1
    coalescer.add("d")  # 0.25 s since the start: one write with everything so far
    coalescer.add("e")
    coalescer.flush()
    assert written == [(0, "abcd"), (1, "e")]


def test_coalescer_stops_the_stream_when_the_task_moved_on() -> None:
    coalescer = DeltaCoalescer(lambda text, i: False, interval=0.0)
    with pytest.raises(TaskNoLongerRunning):
        coalescer.add("x")


def test_a_delta_never_exceeds_its_byte_cap_and_never_splits_a_character() -> None:
    written: list[str] = []
    coalescer = DeltaCoalescer(lambda text, i: written.append(text) is None, interval=60, max_bytes=10)
    coalescer.add("漢字" * 4)  # 24 bytes at once: written right away, in pieces of at most 10 bytes
    coalescer.add("ab")
    coalescer.flush()
    assert "".join(written) == "漢字" * 4 + "ab"
    assert [len(t.encode()) for t in written] == [9, 9, 6, 2]


def test_take_hands_over_the_buffer_as_delta_data_continuing_the_indexes() -> None:
    written: list[tuple[int, str]] = []
    coalescer = DeltaCoalescer(lambda text, i: written.append((i, text)) is None, interval=60, max_bytes=4)
    coalescer.add("ab")
    coalescer.add("cd")  # 4 bytes: written at once as delta 0
    coalescer.add("efghij")  # 6 bytes: written at once, in pieces of at most 4 bytes
    coalescer.add("kl")  # below the size and the interval: buffered
    taken = coalescer.take()
    assert "".join(text for _, text in written) + "".join(str(d["text"]) for d in taken) == "abcdefghijkl"
    assert [d["text"] for d in taken] == ["kl"]
    assert [i for i, _ in written] + [d["index"] for d in taken] == list(range(len(written) + len(taken)))
    assert coalescer.take() == []  # nothing left, and nothing written by taking
