"""Settings of the daily bill (a section of esteira.settings.Settings).

Every billing rule value lives here: the billing time zone (a billing day runs from
local midnight to local midnight), the grace period after which a day's bill is final,
and the prices: per channel, each with the date it takes effect and optional tiers.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Tier(BaseModel):
    """Units up to `up_to` (inclusive; None = no limit) at `unit_price` reais each."""

    model_config = ConfigDict(extra="forbid")

    up_to: int | None = Field(None, ge=1)
    unit_price: Decimal = Field(ge=0)


class Price(BaseModel):
    """A channel's price from `effective_from` until the next price of that channel.

    flat: every message at `unit_price`. graduated: each message at the price of the
    tier it falls in (the first 1,000 at one price, the next at another). volume: every
    message at the price of the tier the day's total reaches. Tiers apply to one day's
    count, the unit of this bill.
    """

    model_config = ConfigDict(extra="forbid")

    channel: str
    effective_from: date = date(2000, 1, 1)
    mode: Literal["flat", "graduated", "volume"] = "flat"
    unit_price: Decimal | None = Field(None, ge=0)
    tiers: list[Tier] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Price:
        where = f"billing.prices[{self.channel} from {self.effective_from}]"
        if self.mode == "flat":
            if self.unit_price is None or self.tiers:
                raise ValueError(f"{where}: a flat price needs unit_price and no tiers")
            return self
        if not self.tiers or self.unit_price is not None:
            raise ValueError(f"{where}: a {self.mode} price needs tiers and no unit_price")
        limits = [t.up_to for t in self.tiers]
        if limits[-1] is not None or None in limits[:-1]:
            raise ValueError(f"{where}: only the last tier may (and must) have no up_to")
        if any(a >= b for a, b in zip(limits[:-2], limits[1:-1], strict=False)):
            raise ValueError(f"{where}: tiers' up_to must increase")
        return self


class BillingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(
        "America/Sao_Paulo",
        description="a billing day is local midnight to local midnight in this zone",
    )
    grace_hours: float = Field(
        24,
        ge=0,
        description="a day's bill is a draft until this "
        "long after the day ends (late messages still count); then "
        "final, never changed (later differences: adjustment lines)",
    )
    root: Path | None = Field(
        None, description="folder of the bills table and the bill files; default <home>/billing"
    )
    prices: list[Price] = Field(
        default_factory=lambda: [Price(channel="Whatsapp", unit_price=Decimal("0.04"))],
        description="R$ per message per channel; a price applies from its effective_from",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone (e.g. America/Sao_Paulo)") from None
        return value

    @model_validator(mode="after")
    def _unique(self) -> BillingSettings:
        keys = [(p.channel, p.effective_from) for p in self.prices]
        if len(keys) != len(set(keys)):
            raise ValueError("billing.prices: two prices of one channel from the same date")
        return self

    def folder(self, home: Path) -> Path:
        return self.root if self.root is not None else home / "billing"

    def bills_path(self, home: Path) -> Path:
        """The billing Delta table (partition billing_date)."""
        return (self.folder(home) / "bills").resolve()
