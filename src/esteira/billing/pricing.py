"""Prices and amounts, in Decimal and integer centavos: never a float.

A line's amount is computed in exact reais and rounded once (half up) to centavos.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from esteira.billing.config import Price
from esteira.errors import ConfigError

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Amount:
    centavos: int
    unit_price: Decimal  # flat: the price; volume: the tier reached; graduated: top tier
    mode: str


def price_in_force(prices: list[Price], channel: str, day: date) -> Price:
    """The channel's price with the latest effective_from on or before `day`."""
    candidates = [p for p in prices if p.channel == channel and p.effective_from <= day]
    if not candidates:
        raise ConfigError(
            f"billing.prices: no price for channel {channel} in force on {day.isoformat()}"
        )
    return max(candidates, key=lambda p: p.effective_from)


def amount(price: Price, units: int) -> Amount:
    """The amount of `units` messages at `price`, rounded once to centavos."""
    if price.mode == "flat":
        assert price.unit_price is not None
        return Amount(_round(price.unit_price * units), price.unit_price, "flat")
    reached = next(t for t in price.tiers if t.up_to is None or units <= t.up_to)
    if price.mode == "volume":
        return Amount(_round(reached.unit_price * units), reached.unit_price, "volume")
    total, lower = Decimal(0), 0
    for tier in price.tiers:
        upper = units if tier.up_to is None else min(units, tier.up_to)
        if upper > lower:
            total += tier.unit_price * (upper - lower)
        lower = tier.up_to or lower
        if tier is reached:
            break
    return Amount(_round(total), reached.unit_price, "graduated")


def _round(reais: Decimal) -> int:
    return int((reais / CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))
