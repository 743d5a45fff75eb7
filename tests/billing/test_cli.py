"""`esteira notifications billing` through the CLI: the seed's bill, bad input in one
line with exit 2 and nothing written, and no personal data outside the bill files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from billing.stream_tables import utc, write_stream, write_stream_frame
from canaries import CPF, EMAIL, NAME, PHONE, SENTENCE
from privacy import Gatherer

ACME = 7494212


def _error(err: str) -> str:
    """The one error line (logs of the steps before it may precede it)."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and err.strip().endswith(lines[0]), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def stream_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ESTEIRA_NOTIFICATIONS__ROOT", str(tmp_path / "n"))
    monkeypatch.setenv("ESTEIRA_BILLING__ROOT", str(tmp_path / "b"))
    return tmp_path / "n"


def test_25000_whatsapp_notifications_make_the_seeds_bill(
    run_cli, spark: SparkSession, stream_root: Path, tmp_path: Path
) -> None:
    # 25,000 distinct messages of Acme on the local day 2020-02-03 (one per 3 s from
    # 03:00Z), one of Beta that day, and one of Acme on the next local day
    acme = spark.range(25_000).select(
        F.concat(F.lit("A"), F.col("id").cast("string")).alias("message_id"),
        F.lit(ACME).cast("long").alias("customer_id"),
        F.lit("Acme").alias("customer_name"),
        F.lit("Whatsapp").alias("channel"),
        F.lit("Olá XXXXX!").alias("payload"),
        F.timestamp_seconds(
            F.lit(int(utc("2020-02-03T03:00:00+00:00").timestamp())) + F.col("id") * 3
        ).alias("event_datetime"),
    )
    others = spark.createDataFrame(
        [
            ("B1", 1, "Beta", "Whatsapp", "oi", utc("2020-02-03T12:00:00+00:00")),
            ("next", ACME, "Acme", "Whatsapp", "oi", utc("2020-02-04T03:00:00+00:00")),
        ],
        "message_id string, customer_id long, customer_name string, channel string, "
        "payload string, event_datetime timestamp",
    )
    write_stream_frame(
        stream_root, acme.unionByName(others).withColumn("event_date", F.to_date("event_datetime"))
    )
    code, out, err = run_cli(
        "notifications",
        "billing",
        "--date",
        "2020-02-03",
        "--as-of",
        "2020-02-10T00:00+00:00",
        "--out",
        tmp_path / "out",
    )
    assert code == 0, err
    assert "final; 2 clientes, 25.001 notificações, R$ 1.000,04" in out
    assert (tmp_path / "out" / "cobranca_2020-02-03.txt").read_text().split("\n\n")[0] == (
        "Relatório de Cobrança\nCliente: Acme\nNotificações Whatsapp: 25000\n"
        "Valor: R$ 1.000,00\nData: 2020-02-03\nSituação: final"
    )
    csv_lines = (tmp_path / "out" / "cobranca_2020-02-03.csv").read_text().splitlines()
    assert (
        len(csv_lines) == 3
        and ",7494212,Acme,Whatsapp,usage,,25000,flat,0.04,1000.00,final," in csv_lines[1]
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--date", "03/02/2020"], "--date: expected YYYY-MM-DD, yesterday or today"),
        (["--date", "2020-02-30"], "--date: expected YYYY-MM-DD, yesterday or today"),
        (
            ["--date", "2020-02-04", "--as-of", "2020-02-03T12:00+00:00"],
            "--date: 2020-02-04 is in the future in the billing time zone",
        ),
        (["--date", "2999-01-01"], "is in the future"),
        (["--date", "2020-02-03", "--as-of", "amanhã"], "--as-of: not an ISO date-time"),
    ],
)
def test_bad_dates_get_one_line_and_exit_2(run_cli, args: list[str], expected: str) -> None:
    code, out, err = run_cli("notifications", "billing", *args)
    assert (code, out) == (2, "")
    assert expected in _error(err)


def test_a_missing_price_or_stream_table_gets_one_line_and_writes_nothing(
    run_cli, spark: SparkSession, stream_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_cli("notifications", "billing", "--date", "2020-02-03")
    assert code == 2 and "no gold table yet" in _error(err)
    write_stream(
        spark, stream_root, [(ACME, "Acme", "SMS", "S1", "oi", utc("2020-02-03T12:00:00+00:00"))]
    )
    code, out, err = run_cli("notifications", "billing", "--date", "2020-02-03")
    assert code == 2
    assert "billing.prices: no price for channel SMS in force on 2020-02-03" in _error(err)
    assert not (tmp_path / "b").exists()


def test_no_customer_name_or_payload_leaves_the_bill_files(
    engine: str, capfd, spark: SparkSession, stream_root: Path, tmp_path: Path
) -> None:
    gather = Gatherer(engine, capfd)
    messages = [
        (
            ACME,
            NAME,
            "Whatsapp",
            f"P{i}",
            f"{SENTENCE} {CPF} {EMAIL} {PHONE}",
            utc("2020-02-03T12:00:00+00:00"),
        )
        for i in range(3)
    ]
    messages.append((2, NAME, "Telegram", "T1", SENTENCE, utc("2020-02-03T12:00:00+00:00")))
    write_stream(spark, stream_root, messages[:3])
    bill = ("notifications", "billing", "--date", "2020-02-03", "--as-of")
    # success (a draft, then final) and two failures, each log format on both paths
    out = gather.run(*bill, "2020-02-04T00:00+00:00")
    assert out.code == 0, out.stderr[-800:]
    out.assert_clean()
    out = gather.run(*bill, "2020-02-06T00:00+00:00", log_format="json")
    assert out.code == 0, out.stderr[-800:]
    out.assert_clean()
    write_stream(spark, stream_root, messages)  # a channel without a price
    for out in gather.both_formats(*bill, "2020-02-06T00:00+00:00"):
        out.assert_clean()
        out.expect_error(2, "no price for channel Telegram")
    write_stream(spark, stream_root, messages[:3], gold_extra=1)  # gold != silver
    out = gather.run(*bill, "2020-02-06T00:00+00:00")
    out.assert_clean()
    out.expect_error(2, "reconciliation failed")
    assert NAME in (tmp_path / "b" / "reports" / "cobranca_2020-02-03.txt").read_text()
