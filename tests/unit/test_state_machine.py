from __future__ import annotations

from itertools import pairwise

import pytest
from spoonfeeder.models.kinds import Provider, TaskStatus, TaskType
from spoonfeeder.models.task_record import Task
from spoonfeeder.tasks.state import ALLOWED, can_move, can_start, is_takeover, lease_held, transition

S = TaskStatus
NOW = "2026-11-22T10:00:00.000Z"


def make(status: TaskStatus, *, attempt: int = 1, lease_until: str | None = None) -> Task:
    return Task(id="01JDTESTTESTTESTTESTTESTAA", owner="u1", type=TaskType.TEXT, provider=Provider.OPENAI,
                model="m", status=status, request_snapshot={}, attempt=attempt,
                created_at=NOW, updated_at=NOW, lease_until=lease_until)


def test_lifecycle_path_is_allowed() -> None:
    path = [S.PENDING, S.QUEUED, S.RUNNING, S.RETRYING, S.RUNNING, S.SUCCEEDED]
    for before, after in pairwise(path):
        assert after in ALLOWED[before], (before, after)


@pytest.mark.parametrize("terminal", [S.SUCCEEDED])
def test_succeeded_is_final(terminal: TaskStatus) -> None:
    for target in TaskStatus:
        assert not can_move(make(terminal), target, now_iso=NOW)


def test_failed_and_cancelled_only_go_back_to_queued() -> None:
    """A retry writes the new attempt already queued (one transaction, then the send)."""
    for status in (S.FAILED, S.CANCELLED):
        assert [t for t in TaskStatus if can_move(make(status), t, now_iso=NOW)] == [S.QUEUED]


def test_running_restarts_only_after_its_lease_expired() -> None:
    live = make(S.RUNNING, lease_until="2026-11-22T10:05:00.000Z")
    expired = make(S.RUNNING, lease_until="2026-11-22T09:59:00.000Z")
    assert not can_start(live, attempt=1, now_iso=NOW)
    assert can_start(expired, attempt=1, now_iso=NOW)


def test_a_live_lease_makes_a_delivery_wait_and_an_expired_one_is_a_takeover() -> None:
    live = make(S.RUNNING, lease_until="2026-11-22T10:05:00.000Z")
    expired = make(S.RUNNING, lease_until="2026-11-22T09:59:00.000Z")
    assert lease_held(live, attempt=1, now_iso=NOW) and not lease_held(live, attempt=2, now_iso=NOW)
    assert not lease_held(expired, attempt=1, now_iso=NOW) and is_takeover(expired)
    assert not is_takeover(make(S.QUEUED)) and not lease_held(make(S.QUEUED), attempt=1, now_iso=NOW)


def test_a_message_of_another_attempt_cannot_start_the_task() -> None:
    assert can_start(make(S.QUEUED, attempt=2), attempt=2, now_iso=NOW)
    assert not can_start(make(S.QUEUED, attempt=2), attempt=1, now_iso=NOW)


def test_transition_applies_updates_or_declines() -> None:
    moved = transition(S.RUNNING, now_iso=NOW, updates={"started_at": NOW})(make(S.QUEUED))
    assert moved is not None and moved.status is S.RUNNING and moved.started_at == NOW
    assert transition(S.RUNNING, now_iso=NOW)(make(S.CANCELLED)) is None
    assert transition(S.RUNNING, now_iso=NOW, guard=lambda t: False)(make(S.QUEUED)) is None
