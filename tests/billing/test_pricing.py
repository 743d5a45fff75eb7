"""Prices and amounts worked out by hand: flat, graduated, volume, effective dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from esteira.billing.config import BillingSettings, Price, Tier
from esteira.billing.pricing import amount, price_in_force
from esteira.billing.render import day_bounds, money
from esteira.errors import ConfigError
from esteira.settings import load_settings

TIERS = [
    Tier(up_to=1000, unit_price=Decimal("0.05")),
    Tier(up_to=5000, unit_price=Decimal("0.04")),
    Tier(unit_price=Decimal("0.03")),
]


def test_the_seeds_default_price_makes_25000_notifications_r_1000() -> None:
    price = price_in_force(BillingSettings().prices, "Whatsapp", date(2020, 2, 3))
    assert price.unit_price == Decimal("0.04")
    assert amount(price, 25_000).centavos == 100_000
    assert money(100_000) == "R$ 1.000,00"


def test_graduated_prices_each_unit_at_its_tiers_price() -> None:
    price = Price(channel="Whatsapp", mode="graduated", tiers=TIERS)
    # 6,000: 1,000 x 0.05 = 50.00, 4,000 x 0.04 = 160.00, 1,000 x 0.03 = 30.00 -> 240.00
    assert amount(price, 6_000).centavos == 24_000
    # 1,001: 1,000 x 0.05 = 50.00, 1 x 0.04 = 0.04 -> 50.04
    assert amount(price, 1_001).centavos == 5_004
    assert amount(price, 0).centavos == 0


def test_volume_prices_every_unit_at_the_tier_the_total_reaches() -> None:
    price = Price(channel="Whatsapp", mode="volume", tiers=TIERS)
    assert amount(price, 6_000).centavos == 18_000  # 6,000 x 0.03
    assert amount(price, 5_000).centavos == 20_000  # 5,000 x 0.04 (up_to is inclusive)
    assert amount(price, 1_000).centavos == 5_000  # 1,000 x 0.05


def test_a_line_is_rounded_once_half_up_never_per_message() -> None:
    price = Price(channel="Whatsapp", unit_price=Decimal("0.0125"))
    # 3 x 0.0125 = 0.0375 -> 0.04 (per-message rounding would give 3 x 0.01 = 0.03)
    assert amount(price, 3).centavos == 4
    assert amount(price, 2).centavos == 3  # 0.025 -> 0.03, half up


def test_a_price_applies_from_its_effective_date() -> None:
    prices = [
        Price(channel="Whatsapp", unit_price=Decimal("0.04")),
        Price(channel="Whatsapp", effective_from=date(2020, 2, 15), unit_price=Decimal("0.05")),
    ]
    assert price_in_force(prices, "Whatsapp", date(2020, 2, 14)).unit_price == Decimal("0.04")
    assert price_in_force(prices, "Whatsapp", date(2020, 2, 15)).unit_price == Decimal("0.05")
    with pytest.raises(ConfigError, match="no price for channel SMS in force on 2020-02-15"):
        price_in_force(prices, "SMS", date(2020, 2, 15))


@pytest.mark.parametrize(
    "price",
    [
        {"channel": "Whatsapp"},  # flat without a price
        {"channel": "Whatsapp", "mode": "volume", "unit_price": "0.04"},  # tiers missing
        {"channel": "Whatsapp", "mode": "graduated", "tiers": [{"up_to": 10, "unit_price": 1}]},
        {
            "channel": "Whatsapp",
            "mode": "graduated",
            "tiers": [
                {"up_to": 10, "unit_price": 1},
                {"up_to": 5, "unit_price": 1},
                {"unit_price": 1},
            ],
        },
    ],
)
def test_bad_prices_stop_before_any_work_naming_the_key(price: dict) -> None:
    with pytest.raises(ConfigError, match="billing.prices"):
        load_settings(billing={"prices": [price]})


def test_a_billing_day_is_local_midnight_to_local_midnight() -> None:
    start, end = day_bounds(date(2020, 2, 3), "America/Sao_Paulo")
    assert (start.isoformat(), end.isoformat()) == (
        "2020-02-03T03:00:00+00:00",
        "2020-02-04T03:00:00+00:00",
    )
    # 2018-11-04: Brazil's last switch to summer time, a day of 23 hours
    start, end = day_bounds(date(2018, 11, 4), "America/Sao_Paulo")
    assert (end - start).total_seconds() == 23 * 3600
