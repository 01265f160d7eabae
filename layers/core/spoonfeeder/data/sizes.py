"""The size of a DynamoDB item as DynamoDB counts it against its 400 KB limit (UTF-8 bytes).

Rules from the DynamoDB developer guide: an attribute costs its name's UTF-8 bytes plus its value; a string
its UTF-8 bytes, a number about one byte per two significant digits plus one, binary its bytes, null and
boolean one byte, and a list or map 3 bytes plus one byte and the size of each element (a map's element
also its key).
"""

from __future__ import annotations

import base64
from typing import Any

ITEM_LIMIT = 400 * 1024


def _number_bytes(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0") or "0"
    significant = digits.split("e")[0].split("E")[0]
    return (len(significant) + 1) // 2 + 1


def value_bytes(value: dict[str, Any]) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_bytes(inner)
    if kind == "B":
        return len(inner if isinstance(inner, bytes) else base64.b64decode(inner))
    if kind in ("NULL", "BOOL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode()) for v in inner)
    if kind == "NS":
        return sum(_number_bytes(v) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_bytes(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_bytes(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_bytes(item: dict[str, Any]) -> int:
    """Bytes an item in DynamoDB's attribute-value format counts against the item size limit."""
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())
