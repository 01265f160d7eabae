"""What a task cost, estimated from the catalog's list prices: Decimal arithmetic, rounded to the micro-dollar.

A model the catalog does not list, or a result without usage, has no cost (None), never a guess of 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from spoonfeeder import catalog
from spoonfeeder.catalog.money import MICRO, usd

if TYPE_CHECKING:
    from spoonfeeder.models.catalog import Price

_MILLION = Decimal(1_000_000)


def token_cost(price: Price, input_tokens: int, output_tokens: int) -> Decimal | None:
    """Cost in USD of a call billed by tokens; None when the model is not priced by tokens."""
    rate = price
    if price.long_context and input_tokens > price.long_context.above_input_tokens:
        rate = price.long_context  # type: ignore[assignment]
    if rate.input_per_million is None or rate.output_per_million is None:
        return None
    cost = (input_tokens * usd(rate.input_per_million) + output_tokens * usd(rate.output_per_million)) / _MILLION
    return cost.quantize(MICRO, rounding=ROUND_HALF_UP)


def cost_usd(provider: str, model: str, usage: Mapping[str, int | None] | None) -> float | None:
    """`result.cost_usd` of a text task: from its usage ({input_tokens, output_tokens, …}) and the catalog."""
    info = catalog.lookup(provider, model)
    if info is None or info.price is None or not usage:
        return None
    cost = token_cost(info.price, int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0))
    return None if cost is None else float(cost)


def image_cost_usd(provider: str, model: str, *, quality: str, size: str, n: int = 1) -> float | None:
    """Cost of `n` images from a model billed per image (DALL·E); None when the catalog has no such price."""
    info = catalog.lookup(provider, model)
    per_image = (info.price.per_image or {}) if info and info.price else {}
    price = per_image.get(quality, {}).get(size)
    return None if price is None else float((usd(price) * n).quantize(MICRO, rounding=ROUND_HALF_UP))
