"""Conversion between plain Python values and DynamoDB's attribute-value format.

Writes take JSON values (what `model_dump(mode="json")` gives: str, int, float, bool, None, dict, list) and
convert them directly, dispatching on the value's type: boto3's TypeSerializer tries each type in turn and
wants Decimal instead of float, which cost a JSON round trip per item, most of the create path's own time.
Numbers get boto3's own DynamoDB context, so a number DynamoDB cannot store raises as it did before.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer

_deserializer = TypeDeserializer()


def _number(value: int | str | Decimal) -> dict[str, str]:
    number = DYNAMODB_CONTEXT.create_decimal(value)  # 38 digits within 1e-130 .. 9.99e125, else it raises
    if not number.is_finite():
        raise TypeError("Infinity and NaN not supported")
    return {"N": str(number)}


def _attribute(value: Any) -> dict[str, Any]:
    convert = _BY_TYPE.get(type(value))
    if convert is not None:
        return convert(value)
    # Subclasses (StrEnum members, IntEnum …) are stored as the JSON value they stand for.
    for kind in (str, bool, int, float, dict, list, tuple):
        if isinstance(value, kind):
            return _BY_TYPE[kind](value)
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


_BY_TYPE: dict[type, Callable[[Any], dict[str, Any]]] = {
    str: lambda v: {"S": str.__str__(v)},
    bool: lambda v: {"BOOL": bool(v)},
    int: lambda v: _number(int(v)),
    float: lambda v: _number(float.__repr__(v)),  # the shortest text that round-trips, as JSON writes it
    Decimal: _number,
    type(None): lambda _: {"NULL": True},
    dict: lambda v: {"M": {str(k): _attribute(x) for k, x in v.items()}},
    list: lambda v: {"L": [_attribute(x) for x in v]},
    tuple: lambda v: {"L": [_attribute(x) for x in v]},
}


def _from_dynamo_numbers(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_numbers(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_from_dynamo_numbers(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """An item from JSON values; top-level None values are left out (the attribute is absent)."""
    return {k: _attribute(v) for k, v in values.items() if v is not None}


def to_value(value: Any) -> dict[str, Any]:
    return _attribute(value)


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return _from_dynamo_numbers({k: _deserializer.deserialize(v) for k, v in item.items()})
