"""Opaque pagination cursors: the last key of a page, bound to the owner who asked for it.

A list names the key attributes of its page (`fields`) and the one that holds its owner (`owner_field`):
the task list pages through the owner index (gsi1), the preset list through the owner's own partition.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from spoonfeeder.errors import ValidationFailed

_KEY_FIELDS = ("pk", "sk", "gsi1pk", "gsi1sk")


def encode(key: dict[str, Any] | None) -> str | None:
    if key is None:
        return None
    plain = {k: v["S"] for k, v in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str | None, *, owner: str, fields: tuple[str, ...] = _KEY_FIELDS,
           owner_field: str = "gsi1pk", bound_to: str | None = None) -> dict[str, Any] | None:
    """The key a cursor holds; `owner_field` must hold `OWNER#<owner>`, or `bound_to` when given (a list of one
    collection the caller was checked to own, e.g. a session's generations)."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(plain, dict) or set(plain) != set(fields):
            raise ValueError("unexpected fields")
        if not all(isinstance(v, str) for v in plain.values()):
            raise ValueError("unexpected values")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor is not valid", code="INVALID_CURSOR") from exc
    if plain[owner_field] != (bound_to or f"OWNER#{owner}"):
        raise ValidationFailed("cursor is not valid", code="INVALID_CURSOR")
    return {k: {"S": v} for k, v in plain.items()}
