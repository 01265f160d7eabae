"""Conversion between plain Python values and DynamoDB's attribute-value format."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo_numbers(value: Any) -> Any:
    # DynamoDB takes numbers as Decimal; a JSON round trip converts nested floats exactly once.
    return json.loads(json.dumps(value), parse_float=Decimal)


def _from_dynamo_numbers(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_numbers(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_from_dynamo_numbers(v) for v in value]
    return value


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in _to_dynamo_numbers(values).items() if v is not None}
    return {k: _serializer.serialize(v) for k, v in clean.items()}


def to_value(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_to_dynamo_numbers(value))


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return _from_dynamo_numbers({k: _deserializer.deserialize(v) for k, v in item.items()})
