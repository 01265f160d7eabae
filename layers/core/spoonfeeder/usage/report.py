"""GET /api/usage: the caller's counters over a bounded range of days, summed per group and overall."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta

from spoonfeeder import ids
from spoonfeeder.catalog.money import MICRO
from spoonfeeder.data.usage import UsageStore
from spoonfeeder.errors import ValidationFailed
from spoonfeeder.models.usage import UsageRow
from spoonfeeder.models.usage_report import UsageGroup, UsageGroupBy, UsageReport, UsageTotals

DEFAULT_DAYS = 30
MAX_DAYS = 366

_GROUP_KEYS: dict[UsageGroupBy, Callable[[UsageRow], tuple[str, ...]]] = {
    UsageGroupBy.DAY: lambda row: (row.day,),
    UsageGroupBy.PROVIDER: lambda row: (row.provider,),
    UsageGroupBy.MODEL: lambda row: (row.provider, row.model),
}
_GROUP_FIELDS = {UsageGroupBy.DAY: ("day",), UsageGroupBy.PROVIDER: ("provider",),
                 UsageGroupBy.MODEL: ("provider", "model")}


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"{name} is not a date (YYYY-MM-DD)", details={name: text}) from None


def day_range(from_day: str | None, to_day: str | None, *, today: date) -> tuple[date, date]:
    """The days asked for: `to` defaults to today (UTC), `from` to the 30 days that end at `to`; at most
    MAX_DAYS days, in order."""
    last = _day(to_day, "to") if to_day else today
    first = _day(from_day, "from") if from_day else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationFailed("from is after to", details={"from": first.isoformat(), "to": last.isoformat()})
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationFailed(f"the range spans more than {MAX_DAYS} days",
                               details={"from": first.isoformat(), "to": last.isoformat(), "maxDays": MAX_DAYS})
    return first, last


def _totals(rows: Iterable[UsageRow]) -> dict[str, int | float]:
    rows = list(rows)
    tokens_in, tokens_out = sum(r.input_tokens for r in rows), sum(r.output_tokens for r in rows)
    return {"tasks": sum(r.tasks for r in rows), "input_tokens": tokens_in, "output_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out, "unpriced_tasks": sum(r.unpriced_tasks for r in rows),
            "cost_usd": float(sum(r.cost_micros for r in rows) * MICRO)}


def summarize(rows: list[UsageRow], group_by: UsageGroupBy, first: date, last: date) -> UsageReport:
    """Pure: counters → the report. Groups with usage only, ordered by their key."""
    grouped: dict[tuple[str, ...], list[UsageRow]] = {}
    for row in rows:
        grouped.setdefault(_GROUP_KEYS[group_by](row), []).append(row)
    groups = [UsageGroup(**dict(zip(_GROUP_FIELDS[group_by], key, strict=True)), **_totals(members))
              for key, members in sorted(grouped.items())]
    return UsageReport(from_day=first.isoformat(), to_day=last.isoformat(), group_by=group_by, groups=groups,
                       total=UsageTotals(**_totals(rows)))


def usage_report(store: UsageStore, owner: str, *, from_day: str | None, to_day: str | None,
                 group_by: UsageGroupBy) -> UsageReport:
    first, last = day_range(from_day, to_day, today=ids.now().date())
    rows = store.rows(owner, first_day=first.isoformat(), last_day=last.isoformat())
    return summarize(rows, group_by, first, last)

