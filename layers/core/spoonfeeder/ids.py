"""Identifiers and timestamps: ULIDs (sortable) and ISO-8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from ulid import ULID

ULID_PATTERN = "^[0-9A-HJKMNP-TV-Z]{26}$"  # Crockford base32, 26 characters


def new_id() -> str:
    return str(ULID())


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(now())
