"""Identifiers and timestamps: ULIDs (sortable) and ISO-8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from ulid import ULID


def new_id() -> str:
    return str(ULID())


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(now())
