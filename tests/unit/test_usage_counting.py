"""Which task changes add usage, and how the counters sum up into GET /api/usage's report."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from spoonfeeder.errors import ValidationFailed
from spoonfeeder.models.usage import UsageRow
from spoonfeeder.models.usage_report import UsageGroupBy
from spoonfeeder.usage.counting import usage_of_transition
from spoonfeeder.usage.report import day_range, summarize

USAGE = {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150}


def task_image(status: str, result: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"entity": "task", "id": "T1", "owner": "u1", "provider": "openai", "model": "gpt-4o-mini",
            "status": status, "attempt": 2, "result": result, "updated_at": "2026-11-23T10:00:00.000Z",
            "completed_at": "2026-11-23T09:59:59.000Z" if status in ("succeeded", "failed") else None, **extra}


def test_a_task_finishing_with_usage_adds_it_once() -> None:
    counted = usage_of_transition(task_image("running"), task_image(
        "succeeded", {"text": "hi", "usage": USAGE, "cost_usd": 0.000036}))
    assert counted is not None
    assert (counted.owner, counted.task_id, counted.attempt, counted.day) == ("u1", "T1", 2, "2026-11-23")
    assert (counted.provider, counted.model) == ("openai", "gpt-4o-mini")
    assert (counted.input_tokens, counted.output_tokens, counted.cost_micros) == (120, 30, 36)


@pytest.mark.parametrize(("old", "new"), [
    pytest.param(task_image("running"), task_image("running", {"usage": USAGE}), id="still running"),
    pytest.param(task_image("succeeded", {"usage": USAGE}), task_image("succeeded", {"usage": USAGE}),
                 id="already finished"),
    pytest.param(task_image("running"), task_image("succeeded", {"text": "x"}), id="no usage reported"),
    pytest.param(task_image("queued", {"usage": USAGE}), task_image("failed", {"usage": USAGE}),
                 id="an earlier attempt's usage left in place"),
    pytest.param(None, task_image("succeeded", {"usage": USAGE}), id="no old image"),
    pytest.param({"entity": "event"}, {"entity": "event", "status": "succeeded"}, id="not a task"),
])
def test_other_changes_add_nothing(old: dict[str, Any] | None, new: dict[str, Any]) -> None:
    assert usage_of_transition(old, new) is None


def test_a_cost_without_tokens_counts_too() -> None:
    counted = usage_of_transition(task_image("running"), task_image(
        "succeeded", {"outputs": [{"index": 0}], "cost_usd": 0.08}, model="dall-e-3"))
    assert counted is not None and (counted.input_tokens, counted.output_tokens, counted.cost_micros) == (0, 0, 80_000)


def test_unknown_prices_and_fallback_pairs() -> None:
    counted = usage_of_transition(task_image("retrying"), task_image(
        "failed", {"usage": USAGE, "cost_usd": None, "provider": "gemini", "model": "gemini-9"}))
    assert counted is not None and counted.cost_micros is None
    assert (counted.provider, counted.model) == ("gemini", "gemini-9")  # the pair that produced the result


def row(day: str, provider: str, model: str, tasks: int, tokens_in: int, tokens_out: int, micros: int,
        unpriced: int = 0) -> UsageRow:
    return UsageRow(day, provider, model, tasks, tokens_in, tokens_out, micros, unpriced)


ROWS = [
    row("2026-11-01", "openai", "gpt-4o", 2, 100, 10, 1_500),
    row("2026-11-01", "openai", "gpt-4o-mini", 1, 50, 5, 20),
    row("2026-11-02", "gemini", "gemini-2.5-flash", 3, 300, 30, 250),
    row("2026-11-02", "openai", "gpt-4o", 1, 10, 1, 35),
    row("2026-11-03", "openai", "custom-model", 4, 40, 4, 0, unpriced=4),
]


@pytest.mark.parametrize(("group_by", "keys"), [
    (UsageGroupBy.DAY, [("2026-11-01",), ("2026-11-02",), ("2026-11-03",)]),
    (UsageGroupBy.PROVIDER, [("gemini",), ("openai",)]),
    (UsageGroupBy.MODEL, [("gemini", "gemini-2.5-flash"), ("openai", "custom-model"), ("openai", "gpt-4o"),
                          ("openai", "gpt-4o-mini")]),
])
def test_groups_partition_the_total(group_by: UsageGroupBy, keys: list[tuple[str, ...]]) -> None:
    report = summarize(ROWS, group_by, date(2026, 11, 1), date(2026, 11, 30))
    fields = {UsageGroupBy.DAY: ("day",), UsageGroupBy.PROVIDER: ("provider",),
              UsageGroupBy.MODEL: ("provider", "model")}[group_by]
    assert [tuple(getattr(g, f) for f in fields) for g in report.groups] == keys
    assert report.total.tasks == sum(r.tasks for r in ROWS) == sum(g.tasks for g in report.groups)
    assert report.total.input_tokens == sum(r.input_tokens for r in ROWS)
    assert report.total.total_tokens == sum(r.input_tokens + r.output_tokens for r in ROWS)
    assert report.total.cost_usd == sum(r.cost_micros for r in ROWS) / 1e6
    assert sum(g.cost_usd for g in report.groups) == pytest.approx(report.total.cost_usd)
    assert report.total.unpriced_tasks == 4 and (report.from_day, report.to_day) == ("2026-11-01", "2026-11-30")


def test_day_range_defaults_and_bounds() -> None:
    today = date(2026, 11, 23)
    assert day_range(None, None, today=today) == (date(2026, 10, 25), today)  # the last 30 days
    assert day_range(None, "2026-01-31", today=today) == (date(2026, 1, 2), date(2026, 1, 31))
    assert day_range("2025-11-23", "2026-11-23", today=today)[0] == date(2025, 11, 23)  # 366 days
    for first, last in [("2026-11-02", "2026-11-01"), ("2025-11-22", "2026-11-23"), ("2026-02-30", None),
                        (None, "2026-13-01")]:
        with pytest.raises(ValidationFailed):
            day_range(first, last, today=today)
