"""The stream's pure steps on small batch DataFrames (both engines)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from esteira.notifications import transforms
from esteira.notifications.schemas import FIELDS
from esteira.quality import FAILED, flag_failures

NOW = datetime(2020, 2, 3, 15, 0, 0)
KAFKA = "key binary, value binary, topic string, partition int, offset long, " \
        "timestamp timestamp, timestampType int"
GOOD = {"customer_id": 7494212, "message_id": "5B81FF24A1", "customer_name": "Acme",
        "channel": "Whatsapp", "payload": "Olá XXXXX, seja muito bem-vindo!",
        "event_datetime": "2020-02-03T14:00:01.001+00:00"}


def _msg(**changes) -> bytes:
    body = {**GOOD, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def _bronze(spark: SparkSession, values: list[bytes | None],
            received: datetime = NOW) -> DataFrame:
    rows = [(b"7494212", v, "t", i % 2, i, received, 1) for i, v in enumerate(values)]
    return transforms.bronze_rows(spark.createDataFrame(rows, KAFKA), NOW)


def test_parse_types_valid_messages_and_names_each_defect(
    spark: SparkSession, engine: str
) -> None:
    # Sail cannot cast bytes that are not UTF-8 to a string; the stream runs on JVM Spark
    not_utf8 = b"\x00\xff\xfe binario" if engine == "spark" else b"\x00 binario"
    values = [
        _msg(),
        _msg(message_id="A61D178E73", event_datetime="2020-02-03T11:00:01.099-03:00",
             customer_id="7494212"),
        b"{\"customer_id\": 7494212, \"message_id\": \"5B8",
        not_utf8,
        b"",
        None,
        b"[1, 2]",
        _msg(channel=...),
        _msg(payload=""),
        _msg(message_id=None),
        _msg(customer_id="Acme"),
        _msg(customer_id=True),
        _msg(customer_id=7494212.5),
        _msg(event_datetime=1580738401001),
        _msg(event_datetime="ontem"),
        _msg(event_datetime="2099-02-03T14:00:01.001+00:00"),
    ]
    parsed = transforms.parse_messages(_bronze(spark, values))
    got = [(r["offset"], r["reason"]) for r in parsed.orderBy("offset").collect()]
    assert got == [
        (0, None), (1, None), (2, "not JSON"), (3, "not JSON"), (4, "not JSON"),
        (5, "not JSON"), (6, "not JSON"), (7, "missing field: channel"),
        (8, "missing field: payload"), (9, "missing field: message_id"),
        (10, "wrong type: customer_id"), (11, "wrong type: customer_id"),
        (12, "wrong type: customer_id"), (13, "wrong type: event_datetime"),
        (14, "wrong type: event_datetime"), (15, "in the future: event_datetime"),
    ]
    valid = transforms.valid_messages(parsed).select(
        "message_id", "customer_id", "customer_name", "channel", "event_datetime", "event_date"
    )
    expected = spark.createDataFrame(
        [("5B81FF24A1", 7494212, "Acme", "Whatsapp", datetime(2020, 2, 3, 14, 0, 1, 1000),
          datetime(2020, 2, 3).date()),
         ("A61D178E73", 7494212, "Acme", "Whatsapp", datetime(2020, 2, 3, 14, 0, 1, 99000),
          datetime(2020, 2, 3).date())],
        "message_id string, customer_id long, customer_name string, channel string, "
        "event_datetime timestamp, event_date date",
    )
    assertDataFrameEqual(valid, expected)
    rejected = transforms.rejects(parsed)
    assert rejected.count() == 14
    assert rejected.filter("offset = 3").first()["raw_value"].endswith("binario")


def test_too_late_is_measured_from_the_watermark(spark: SparkSession) -> None:
    values = [
        _msg(message_id="NOVA", event_datetime="2020-03-09T14:00:00+00:00"),
        _msg(message_id="LIMITE", event_datetime="2020-02-03T14:00:00+00:00"),
        _msg(message_id="VELHA", event_datetime="2020-02-03T13:59:59.999+00:00"),
        b"nao e json",
    ]
    parsed = transforms.parse_messages(_bronze(spark, values, received=datetime(2020, 3, 9, 15)))
    marked = transforms.too_late(parsed, datetime(2020, 3, 9, 14), timedelta(days=35))
    got = {r["offset"]: r["reason"] for r in marked.collect()}
    assert got == {0: None, 1: None, 2: "too late", 3: "not JSON"}
    unmarked = transforms.too_late(parsed, None, timedelta(days=35))
    assert unmarked.filter("reason = 'too late'").count() == 0


def test_first_deliveries_keep_one_row_per_message_id_and_every_broken_record(
    spark: SparkSession,
) -> None:
    values = [_msg(), _msg(message_id="OUTRA"), _msg(), b"quebrado", b"quebrado",
              _msg(message_id=None), _msg(message_id=None), _msg(message_id="OUTRA")]
    parsed = transforms.parse_messages(_bronze(spark, values))
    kept = transforms.first_deliveries(parsed, timedelta(hours=24))
    got = sorted((r["message_id"] or "", r["reason"] or "") for r in kept.collect())
    assert got == [("", "missing field: message_id"), ("", "missing field: message_id"),
                   ("", "not JSON"), ("", "not JSON"), ("5B81FF24A1", ""), ("OUTRA", "")]


@pytest.mark.parametrize("late_minute", ["2020-02-03T11:30:10+00:00"])
def test_gold_increments_put_late_messages_in_their_own_minute(
    spark: SparkSession, late_minute: str
) -> None:
    values = [_msg(message_id="A"), _msg(message_id="B", event_datetime="2020-02-03T14:00:59Z"),
              _msg(message_id="C", event_datetime="2020-02-03T14:01:00Z"),
              _msg(message_id="D", channel="SMS"),
              _msg(message_id="E", event_datetime=late_minute)]
    parsed = transforms.parse_messages(_bronze(spark, values + [b"quebrado"]))
    summary = transforms.batch_summary(parsed)
    counts = transforms.gold_increments(summary, NOW).select("customer_id", "channel", "minute",
                                                   "notifications", "updated_at")
    expected = spark.createDataFrame(
        [(7494212, "Whatsapp", datetime(2020, 2, 3, 14, 0), 2, NOW),
         (7494212, "Whatsapp", datetime(2020, 2, 3, 14, 1), 1, NOW),
         (7494212, "SMS", datetime(2020, 2, 3, 14, 0), 1, NOW),
         (7494212, "Whatsapp", datetime(2020, 2, 3, 11, 30), 1, NOW)],
        "customer_id long, channel string, minute timestamp, notifications long, "
        "updated_at timestamp",
    )
    assertDataFrameEqual(counts, expected)


def test_the_reject_rules_state_what_the_parse_and_the_watermark_decide(
    spark: SparkSession,
) -> None:
    """Each reject reason is the first `drop` rule a record breaks, in rule order, when
    the rules' SQL is evaluated on the message's fields as text."""
    values = [
        _msg(),
        _msg(message_id="LIMITE", event_datetime="2020-02-03T14:00:00+00:00"),
        b"{\"customer_id\": 7494212, \"message_id\": \"5B8",
        b"",
        _msg(channel=...),
        _msg(payload=""),
        _msg(customer_id="Acme"),
        _msg(event_datetime=1580738401001),
        _msg(event_datetime="ontem"),
        _msg(event_datetime="2099-02-03T14:00:01.001+00:00"),
        _msg(message_id="VELHA", event_datetime="2020-02-03T13:59:59.999+00:00"),
    ]
    expected = [None, None, "not_json", "not_json", "missing_field", "missing_field",
                "wrong_type", "wrong_type", "wrong_type", "in_the_future", "too_late"]
    watermark, max_lateness = datetime(2020, 3, 9, 14), timedelta(days=35)
    bronze = _bronze(spark, values, received=datetime(2020, 3, 9, 15))
    marked = transforms.too_late(transforms.parse_messages(bronze), watermark, max_lateness)
    by_reason = {r["offset"]: r["reason"] and transforms.rule_of(r["reason"])
                 for r in marked.collect()}
    assert [by_reason[i] for i in range(len(values))] == expected

    rules = transforms.reject_rules(max_lateness)
    assert [r.name for r in rules] == ["not_json", "missing_field", "wrong_type",
                                       "in_the_future", "too_late"]
    assert {r.action for r in rules} == {"drop"}
    text = bronze.select(
        "offset", "kafka_timestamp", F.col("value").cast("string").alias("raw_value"),
        F.lit(watermark).cast("timestamp").alias("watermark"),
    ).withColumn("f", F.from_json("raw_value", ", ".join(f"{f} string" for f in FIELDS)))
    flagged = flag_failures(text.select("*", "f.*").drop("f"), rules)
    by_rules = {r["offset"]: (r[FAILED] or [None])[0] for r in flagged.collect()}
    assert [by_rules[i] for i in range(len(values))] == expected
