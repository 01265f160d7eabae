"""Stored records as plain dataclasses: each field converted to its annotation whenever it is set.

The task and its events are read and written by every function, the workers included. pydantic's import alone
is a third of a worker's cold start (docs/benchmarks.md), so these records are dataclasses with this small,
explicit conversion instead: str, int, float, bool, dict, Any, a StrEnum, another record, a list of one, and
`X | None`. Reading an item or assigning a field (a state change's updates) converts as pydantic's
`validate_assignment` did, and refuses what does not fit with RecordError.
"""

from __future__ import annotations

import dataclasses
import types
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

RecordT = TypeVar("RecordT", bound="Record")


class RecordError(ValueError):
    """A value that does not fit its record's field (a stored item that is not what it should be)."""


class Record:
    """Base of a `@dataclass` record: setting a field converts the value to the field's annotation."""

    def __setattr__(self, name: str, value: Any) -> None:
        kind = _field_types(type(self)).get(name)
        super().__setattr__(name, value if kind is None else _convert(value, kind, f"{type(self).__name__}.{name}"))

    @classmethod
    def from_dict(cls: type[RecordT], values: dict[str, Any]) -> RecordT:
        """The record from a plain mapping (a table item's attributes): its own fields are read, the rest
        (keys, index attributes) ignored; a missing field takes its default."""
        known = _field_types(cls)
        try:
            return cls(**{name: value for name, value in values.items() if name in known})
        except TypeError as exc:  # a required field is missing
            raise RecordError(f"{cls.__name__}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON values: enums as their values, nested records as dicts, None kept."""
        return {name: _plain(getattr(self, name)) for name in _field_types(type(self))}


@cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _refuse(where: str, expected: str, value: Any) -> RecordError:
    return RecordError(f"{where}: expected {expected}, got {type(value).__name__}")


def _convert(value: Any, kind: Any, where: str) -> Any:
    origin = get_origin(kind)
    if origin is Union or origin is types.UnionType:  # only `X | None` is used
        if value is None:
            return None
        (kind,) = (arg for arg in get_args(kind) if arg is not type(None))
        origin = get_origin(kind)
    if kind is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise _refuse(where, "a list", value)
        (item,) = get_args(kind)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            raise _refuse(where, "an object", value)
        return value
    if isinstance(kind, type) and issubclass(kind, Record):
        if isinstance(value, kind):
            return value
        if not isinstance(value, dict):
            raise _refuse(where, "an object", value)
        try:
            return kind.from_dict(value)
        except RecordError as exc:
            raise RecordError(f"{where}: {exc}") from None
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(value)
        except ValueError:
            raise RecordError(f"{where}: {value!r} is not one of {', '.join(m.value for m in kind)}") from None
    return _scalar(value, kind, where)


def _scalar(value: Any, kind: type, where: str) -> Any:
    if isinstance(value, bool) and kind is not bool:  # bool is an int in Python, never in a record
        raise _refuse(where, kind.__name__, value)
    if kind is float and isinstance(value, int):
        return float(value)  # the table gives 1.0 back as 1
    if not isinstance(value, kind):
        raise _refuse(where, kind.__name__, value)
    return value
