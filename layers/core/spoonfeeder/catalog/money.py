"""Money as the platform counts it: USD amounts as Decimal, rounded to the micro-dollar; whole micro-dollars
in counters (integers only, no float drift when summed)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MICRO = Decimal("0.000001")


def usd(amount: float | Decimal) -> Decimal:
    """An amount as written (a price from the file, a stored cost), not its binary float."""
    return Decimal(str(amount))


def to_micros(amount: float | Decimal) -> int:
    """A cost as whole micro-dollars."""
    return int((usd(amount) / MICRO).to_integral_value(rounding=ROUND_HALF_UP))
