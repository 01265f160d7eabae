"""Usage counting's records: what one finished task adds to its owner's counters, and one counter as stored.

Plain dataclasses: the events function imports them at cold start; the API's answer models are in
`usage_report.py`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskUsage:
    """The usage one finished attempt of a task adds (`cost_micros` None: the model has no known price)."""

    owner: str
    task_id: str
    attempt: int
    day: str  # YYYY-MM-DD (UTC) of completion
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_micros: int | None


@dataclass(frozen=True)
class UsageRow:
    """One counter: an owner's usage of one provider/model on one day."""

    day: str
    provider: str
    model: str
    tasks: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    unpriced_tasks: int
