"""The rollup beside gold (per customer, channel and hour): what the dashboard's views
over all customers read. Written by the stream's micro-batch with gold's transaction id,
so a replayed batch counts once; rebuilt from gold when a stream started before it existed.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from esteira.notifications import io, transforms
from esteira.notifications.micro_batch import MicroBatch
from esteira.settings import load_settings
from notifications.stream_helpers import kafka_batch

ACME, GLOBEX = (7494212, "Acme"), (1001, "Globex")


def _msg(mid: str, ts: str, customer: tuple[int, str] = ACME, channel: str = "Whatsapp") -> bytes:
    return json.dumps({"customer_id": customer[0], "message_id": mid, "customer_name": customer[1],
                       "channel": channel, "payload": "Olá XXXXX!", "event_datetime": ts}).encode()


def _rollup(spark: SparkSession, t: io.Tables) -> dict[tuple, tuple]:
    """(customer, channel, date, hour) -> (notifications, 'HH:MM' newest minute, its count)."""
    return {
        (r["customer_id"], r["channel"], r["event_date"].isoformat(), r["event_hour"]):
        (r["notifications"], r["last_minute"].strftime("%H:%M"), r["last_minute_notifications"])
        for r in spark.read.format("delta").load(t.rollup).collect()
    }


def _rollup_from_gold_by_hand(spark: SparkSession, t: io.Tables) -> dict[tuple, tuple]:
    """The same figures summed in Python from gold's rows (not through the rollup code)."""
    per_hour: dict[tuple, dict[datetime, int]] = defaultdict(dict)
    for r in spark.read.format("delta").load(t.gold).collect():
        key = (r["customer_id"], r["channel"], r["event_date"].isoformat(), r["event_hour"])
        per_hour[key][r["minute"]] = per_hour[key].get(r["minute"], 0) + r["notifications"]
    out = {}
    for key, minutes in per_hour.items():
        newest = max(minutes)
        out[key] = (sum(minutes.values()), newest.strftime("%H:%M"), minutes[newest])
    return out


@pytest.fixture
def body(engine: str, tmp_path: Path) -> MicroBatch:
    if engine != "spark":
        pytest.skip("Delta MERGE through delta-spark needs the JVM engine (as the stream does)")
    settings = load_settings(engine="spark", notifications={"root": str(tmp_path)})
    t = io.tables(settings.notifications, settings.home)
    return MicroBatch(settings, t, t.app_id())


def test_the_rollup_sums_each_hour_keeps_its_newest_minute_and_replays_count_once(
    spark: SparkSession, body: MicroBatch
) -> None:
    t = body.tables
    first = kafka_batch(spark, [
        _msg("A", "2020-02-03T14:00:01Z"), _msg("B", "2020-02-03T14:00:30Z"),
        _msg("A", "2020-02-03T14:00:01Z"),  # re-delivery in the same batch
        _msg("C", "2020-02-03T14:05:00Z"),
        _msg("D", "2020-02-03T14:07:00Z", GLOBEX), _msg("E", "2020-02-03T14:07:10Z", GLOBEX, "SMS"),
        b"quebrado",
    ], 0)
    body(first, 0)
    body(first, 0)  # a replay of a committed batch
    assert _rollup(spark, t) == {
        (7494212, "Whatsapp", "2020-02-03", 14): (3, "14:05", 1),
        (1001, "Whatsapp", "2020-02-03", 14): (1, "14:07", 1),
        (1001, "SMS", "2020-02-03", 14): (1, "14:07", 1),
    }
    # same newest minute again (its count adds up), an older minute (it does not move),
    # a new hour, and a late message in an earlier hour
    second = kafka_batch(spark, [
        _msg("F", "2020-02-03T14:05:40Z"), _msg("G", "2020-02-03T14:01:00Z"),
        _msg("H", "2020-02-03T15:00:00Z"), _msg("I", "2020-02-03T15:00:59Z"),
        _msg("J", "2020-02-03T09:30:00Z"),
        _msg("K", "2020-02-03T14:06:00Z", GLOBEX),
    ], 7)
    body(second, 1)
    body(second, 1)
    expected = {
        (7494212, "Whatsapp", "2020-02-03", 14): (5, "14:05", 2),
        (7494212, "Whatsapp", "2020-02-03", 15): (2, "15:00", 2),
        (7494212, "Whatsapp", "2020-02-03", 9): (1, "09:30", 1),
        (1001, "Whatsapp", "2020-02-03", 14): (2, "14:07", 1),
        (1001, "SMS", "2020-02-03", 14): (1, "14:07", 1),
    }
    assert _rollup(spark, t) == expected
    assert _rollup_from_gold_by_hand(spark, t) == expected


def test_a_gold_without_rollup_gets_one_and_a_replay_of_its_last_batch_adds_nothing(
    spark: SparkSession, body: MicroBatch
) -> None:
    t = body.tables
    batch = kafka_batch(spark, [
        _msg("A", "2020-02-03T14:00:01Z"), _msg("B", "2020-02-03T14:02:00Z"),
        _msg("C", "2020-02-03T16:10:00Z", GLOBEX)], 0)
    body(batch, 0)
    shutil.rmtree(t.rollup)  # as if gold had been written by a version without the rollup
    assert io.build_missing_rollup(spark, t, body.app_id, transforms.rollup_of_gold)
    assert not io.build_missing_rollup(spark, t, body.app_id, transforms.rollup_of_gold)
    expected = {(7494212, "Whatsapp", "2020-02-03", 14): (2, "14:02", 1),
                (1001, "Whatsapp", "2020-02-03", 16): (1, "16:10", 1)}
    assert _rollup(spark, t) == expected
    body(batch, 0)  # Spark replays the batch: gold and the rebuilt rollup skip it
    assert _rollup(spark, t) == expected
    body(kafka_batch(spark, [_msg("D", "2020-02-03T14:03:00Z")], 3), 1)
    expected[(7494212, "Whatsapp", "2020-02-03", 14)] = (3, "14:03", 1)
    assert _rollup(spark, t) == expected
