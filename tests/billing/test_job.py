"""The daily bill on real Delta tables, both engines: counts computed by hand here.

Billing time zone America/Sao_Paulo (UTC-3 in 2020): the local day 2020-02-03 runs
from 2020-02-03T03:00Z to 2020-02-04T03:00Z; its bill is final 24 h after that.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from billing.stream_tables import Message, utc, write_stream
from esteira.billing import io, job
from esteira.errors import QualityError
from esteira.settings import Settings, load_settings

TZ = "America/Sao_Paulo"
DRAFT_TIME = "2020-02-04T12:00+00:00"  # inside the grace (final after 2020-02-05T03:00Z)
FINAL_TIME = "2020-02-05T12:00+00:00"  # after it: the next open bill is 2020-02-04's


def _msgs(
    n: int,
    at: str,
    customer: int = 7494212,
    name: str = "Acme",
    channel: str = "Whatsapp",
    prefix: str = "M",
) -> list[Message]:
    return [(customer, name, channel, f"{prefix}{i}", "Olá XXXXX!", utc(at)) for i in range(n)]


@pytest.fixture
def cfg(engine: str, tmp_path: Path) -> Settings:
    return load_settings(
        engine=engine,
        notifications={"root": str(tmp_path / "n")},
        billing={"root": str(tmp_path / "b")},
    )


def _bill(spark: SparkSession, settings: Settings, day: str, now: str) -> job.BillingResult:
    return job.run(settings, spark, job.BillingRequest.parse(day, TZ, now))


def _usage(result: job.BillingResult) -> dict[int, tuple[int, int, str]]:
    return {
        r["customer_id"]: (r["notifications"], r["amount_centavos"], r["status"])
        for r in result.lines
        if r["line_type"] == "usage"
    }


def test_messages_near_local_midnight_fall_on_their_local_day(
    spark: SparkSession, cfg: Settings
) -> None:
    messages = (
        _msgs(1, "2020-02-03T02:59:59.999+00:00", prefix="before")  # 02-02 23:59:59.999 local
        + _msgs(1, "2020-02-03T03:00:00+00:00", prefix="first")  # 02-03 00:00 local
        + _msgs(1, "2020-02-03T23:30:00+00:00", prefix="utc-day")  # 02-03 20:30 local
        + _msgs(1, "2020-02-04T02:59:59.999+00:00", prefix="last")  # 02-03 23:59:59.999
        + _msgs(1, "2020-02-04T03:00:00+00:00", prefix="after")
    )  # 02-04 00:00 local
    write_stream(spark, Path(cfg.notifications.root), messages)
    assert _usage(_bill(spark, cfg, "2020-02-03", DRAFT_TIME)) == {7494212: (3, 12, "draft")}
    assert _usage(_bill(spark, cfg, "2020-02-02", DRAFT_TIME)) == {7494212: (1, 4, "final")}


def test_a_draft_is_replaced_then_sealed_and_late_counts_become_adjustments(
    spark: SparkSession, cfg: Settings
) -> None:
    root = Path(cfg.notifications.root)
    messages = _msgs(10, "2020-02-03T15:00:00+00:00") + _msgs(
        4, "2020-02-03T16:00:00+00:00", customer=1, name="Beta"
    )
    write_stream(spark, root, messages)
    first = _bill(spark, cfg, "2020-02-03", DRAFT_TIME)
    assert first.status == "draft" and _usage(first) == {
        7494212: (10, 40, "draft"),
        1: (4, 16, "draft"),
    }
    # two late messages inside the grace: the rerun replaces the draft (one line each)
    messages += _msgs(2, "2020-02-03T20:00:00+00:00", prefix="late")
    write_stream(spark, root, messages)
    second = _bill(spark, cfg, "2020-02-03", DRAFT_TIME)
    assert len(second.lines) == 2 and _usage(second)[7494212] == (12, 48, "draft")
    # after the grace: final, sealed with a content hash
    final = _bill(spark, cfg, "2020-02-03", FINAL_TIME)
    assert final.status == "final" and _usage(final) == {
        7494212: (12, 48, "final"),
        1: (4, 16, "final"),
    }
    assert all(len(r["content_hash"]) == 64 for r in final.lines)
    # three more late messages after the grace: the final bill never changes; the
    # difference (+3, R$ 0,12) goes on the next open bill, 2020-02-04's, with the reason
    messages += _msgs(3, "2020-02-03T21:00:00+00:00", prefix="very-late")
    write_stream(spark, root, messages)
    late = _bill(spark, cfg, "2020-02-03", FINAL_TIME)
    assert late.status == "adjusted" and late.lines == final.lines
    [adj] = late.adjustments
    assert (
        adj["billing_date"],
        adj["adjusted_date"],
        adj["customer_id"],
        adj["notifications"],
        adj["amount_centavos"],
        adj["status"],
    ) == (date(2020, 2, 4), date(2020, 2, 3), 7494212, 3, 12, "draft")
    assert "billed 12, counted 15" in adj["reason"]
    assert (
        "Ajuste 2020-02-03 Whatsapp: +3 notificações, R$ 0,12"
        in (Path(cfg.billing.root) / "reports" / "cobranca_2020-02-04.txt").read_text()
    )
    # rerun: same counts, nothing new; the open bill's own run keeps the adjustment
    assert _bill(spark, cfg, "2020-02-03", FINAL_TIME).status == "unchanged"
    next_day = _bill(spark, cfg, "2020-02-04", FINAL_TIME)
    assert [(r["line_type"], r["notifications"]) for r in next_day.lines] == [("adjustment", 3)]
    assert next_day.amount_centavos == 12


def test_a_price_change_in_the_middle_of_the_month_prices_each_day_at_its_price(
    engine: str, spark: SparkSession, tmp_path: Path
) -> None:
    settings = load_settings(
        engine=engine,
        notifications={"root": str(tmp_path / "n")},
        billing={
            "root": str(tmp_path / "b"),
            "prices": [
                {"channel": "Whatsapp", "unit_price": "0.04"},
                {"channel": "Whatsapp", "effective_from": "2020-02-15", "unit_price": "0.05"},
            ],
        },
    )
    write_stream(
        spark,
        tmp_path / "n",
        _msgs(100, "2020-02-14T12:00:00+00:00", prefix="a")
        + _msgs(100, "2020-02-15T12:00:00+00:00", prefix="b"),
    )
    assert _usage(_bill(spark, settings, "2020-02-14", "2020-03-01T00:00+00:00")) == {
        7494212: (100, 400, "final")
    }  # 100 x 0.04
    assert _usage(_bill(spark, settings, "2020-02-15", "2020-03-01T00:00+00:00")) == {
        7494212: (100, 500, "final")
    }  # 100 x 0.05


def test_graduated_and_volume_tiers_on_a_days_count(
    engine: str, spark: SparkSession, tmp_path: Path
) -> None:
    tiers = [{"up_to": 2, "unit_price": "0.10"}, {"unit_price": "0.05"}]
    settings = load_settings(
        engine=engine,
        notifications={"root": str(tmp_path / "n")},
        billing={
            "root": str(tmp_path / "b"),
            "prices": [
                {"channel": "Whatsapp", "mode": "graduated", "tiers": tiers},
                {"channel": "SMS", "mode": "volume", "tiers": tiers},
            ],
        },
    )
    write_stream(
        spark,
        tmp_path / "n",
        _msgs(3, "2020-02-03T12:00:00+00:00", prefix="w")
        + _msgs(3, "2020-02-03T12:00:00+00:00", channel="SMS", prefix="s"),
    )
    result = _bill(spark, settings, "2020-02-03", DRAFT_TIME)
    amounts = {r["channel"]: (r["price_mode"], r["amount_centavos"]) for r in result.lines}
    # graduated: 2 x 0.10 + 1 x 0.05 = 0.25; volume: 3 reaches the second tier, 3 x 0.05
    assert amounts == {"Whatsapp": ("graduated", 25), "SMS": ("volume", 15)}
    txt = (tmp_path / "b" / "reports" / "cobranca_2020-02-03.txt").read_text()
    assert "Notificações SMS: 3\nNotificações Whatsapp: 3\nValor: R$ 0,40\n" in txt


def test_a_reconciliation_failure_writes_nothing(spark: SparkSession, cfg: Settings) -> None:
    root = Path(cfg.notifications.root)
    write_stream(spark, root, _msgs(5, "2020-02-03T15:00:00+00:00"))
    _bill(spark, cfg, "2020-02-03", DRAFT_TIME)
    bills = io.bills_path(cfg)
    versions = sorted(p.name for p in (bills / "_delta_log").glob("*.json"))
    report = Path(cfg.billing.root) / "reports" / "cobranca_2020-02-03.txt"
    before = report.read_text()
    # gold says one more than silver's distinct message_ids for that line
    write_stream(spark, root, _msgs(6, "2020-02-03T15:00:00+00:00"), gold_extra=1)
    with pytest.raises(
        QualityError,
        match=r"reconciliation failed: 1 line\(s\).*gold 7, "
        r"silver 6\); nothing written",
    ):
        _bill(spark, cfg, "2020-02-03", DRAFT_TIME)
    assert sorted(p.name for p in (bills / "_delta_log").glob("*.json")) == versions
    assert report.read_text() == before
