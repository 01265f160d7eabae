"""Items in DynamoDB's format: the direct conversion writes exactly what boto3's serializer wrote after a JSON
round trip (floats as Decimal), for any JSON value, and refuses what DynamoDB cannot store the same way."""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st
from spoonfeeder.data.items import to_item, to_value


def boto3_item(values: dict[str, Any]) -> dict[str, Any]:
    """The former conversion: a JSON round trip (floats become Decimal), then boto3's TypeSerializer."""
    plain = json.loads(json.dumps(values), parse_float=Decimal)
    return {k: TypeSerializer().serialize(v) for k, v in plain.items() if v is not None}


json_values = st.recursive(
    st.none() | st.booleans() | st.text() | st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f == 0 or 1e-130 <= abs(f) < 9.9e125),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=6))
def test_items_are_written_as_boto3_wrote_them(values: dict[str, Any]) -> None:
    assert to_item(values) == boto3_item(values)


def test_enum_members_are_stored_as_their_value() -> None:
    class Colour(StrEnum):
        RED = "red"

    assert to_item({"c": Colour.RED, "t": (1, 2.5)}) == {"c": {"S": "red"}, "t": {"L": [{"N": "1"}, {"N": "2.5"}]}}


@pytest.mark.parametrize("number", [10**40, 1e-320, 1e200, float("inf"), float("nan")])
def test_numbers_dynamodb_cannot_store_are_refused(number: Any) -> None:
    with pytest.raises((ArithmeticError, TypeError)):
        to_value(number)
    with pytest.raises((ArithmeticError, TypeError)):
        boto3_item({"v": number})
