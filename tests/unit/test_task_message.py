"""Queue message bodies: what a worker and the dead-letter function accept as a task message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spoonfeeder.models.messages import InvalidMessage, TaskMessage


def test_a_message_goes_to_json_and_back() -> None:
    message = TaskMessage(task_id="T1", owner="u1", attempt=2, trace_id="req-1")
    assert json.loads(message.to_json()) == {"task_id": "T1", "owner": "u1", "attempt": 2, "trace_id": "req-1"}
    assert TaskMessage.from_json(message.to_json()) == message
    assert TaskMessage.from_json(b'{"task_id":"T1","owner":"u1","attempt":1}').trace_id is None


def test_fields_a_newer_sender_adds_are_ignored() -> None:
    body = '{"task_id":"T1","owner":"u1","attempt":1,"trace_id":null,"priority":5}'
    assert TaskMessage.from_json(body) == TaskMessage(task_id="T1", owner="u1", attempt=1)


@pytest.mark.parametrize(("body", "says"), [
    ("this is not a task message", "the body is not JSON"),
    (b"\xff\xfe", "the body is not JSON"),
    ("[1, 2]", "the body is not a JSON object"),
    ('{"task_id": "T1"}', "owner, attempt required"),
    ('{"task_id": "", "owner": "u1", "attempt": 1}', "task_id: a non-empty string"),
    ('{"task_id": "T1", "owner": 7, "attempt": 1}', "owner: a non-empty string"),
    ('{"task_id": "T1", "owner": "u1", "attempt": 0}', "attempt: an integer of at least 1"),
    ('{"task_id": "T1", "owner": "u1", "attempt": "1"}', "attempt: an integer of at least 1"),
    ('{"task_id": "T1", "owner": "u1", "attempt": 1.5}', "attempt: an integer of at least 1"),
    ('{"task_id": "T1", "owner": "u1", "attempt": true}', "attempt: an integer of at least 1"),
    ('{"task_id": "T1", "owner": "u1", "attempt": 1, "trace_id": 5}', "trace_id: a string or null"),
])
def test_an_unreadable_body_is_refused_with_the_reason(body: Any, says: str) -> None:
    with pytest.raises(InvalidMessage, match=says):
        TaskMessage.from_json(body)


@given(st.text(min_size=1), st.text(min_size=1), st.integers(min_value=1, max_value=2**63),
       st.none() | st.text())
def test_any_valid_message_survives_the_queue(task_id: str, owner: str, attempt: int, trace_id: str | None) -> None:
    message = TaskMessage(task_id=task_id, owner=owner, attempt=attempt, trace_id=trace_id)
    assert TaskMessage.from_json(message.to_json()) == message
