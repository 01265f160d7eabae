"""GET /api/usage's answer: totals per group (day, provider or model) and overall."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class UsageGroupBy(StrEnum):
    DAY = "day"
    PROVIDER = "provider"
    MODEL = "model"


class UsageTotals(BaseModel):
    tasks: int = Field(description="Finished tasks that reported usage or a cost")
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float = Field(description="Estimated from the catalog's list prices")
    unpriced_tasks: int = Field(description="Tasks of models without a known price: not in cost_usd")


class UsageGroup(UsageTotals):
    """The totals of one group: the field of the grouping is set (day; provider; or provider and model)."""

    day: str | None = None
    provider: str | None = None
    model: str | None = None


class UsageReport(BaseModel):
    from_day: str = Field(description="First day counted (UTC), YYYY-MM-DD")
    to_day: str = Field(description="Last day counted (UTC), inclusive")
    group_by: UsageGroupBy
    groups: list[UsageGroup] = Field(description="Groups with usage, in order of the grouping")
    total: UsageTotals
