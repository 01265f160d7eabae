from __future__ import annotations

import base64

import pytest
from spoonfeeder.errors import ValidationFailed
from spoonfeeder.realtime.topics import parse
from spoonfeeder.tasks import cursor

KEY = {"pk": {"S": "TASK#1"}, "sk": {"S": "TASK"}, "gsi1pk": {"S": "OWNER#u1"}, "gsi1sk": {"S": "2026#1"}}


def test_cursor_round_trips_for_its_owner() -> None:
    encoded = cursor.encode(KEY)
    assert encoded and cursor.decode(encoded, owner="u1") == KEY


@pytest.mark.parametrize("bad", ["!!!", "bm90IGpzb24", base64.urlsafe_b64encode(b'{"pk":"x"}').decode(), "e30"])
def test_malformed_cursors_are_rejected(bad: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        cursor.decode(bad, owner="u1")
    assert err.value.code == "INVALID_CURSOR"


def test_a_cursor_cannot_page_through_someone_else() -> None:
    encoded = cursor.encode(KEY)
    with pytest.raises(ValidationFailed):
        cursor.decode(encoded, owner="u2")


@pytest.mark.parametrize("topic", ["task:01ABC", "owner:u1"])
def test_known_topics_parse(topic: str) -> None:
    assert parse(topic)[1]


@pytest.mark.parametrize("topic", ["task", "task:", "secret:1", "", "x" * 300])
def test_unknown_topics_are_refused(topic: str) -> None:
    with pytest.raises(ValidationFailed):
        parse(topic)
