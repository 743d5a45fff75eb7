"""One micro-batch at a time (JVM Spark, real Delta): replays change nothing.

The stream hands `MicroBatch` a DataFrame with Kafka's columns; here the test does, so
a crash between two writes can be staged precisely and the batch replayed.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from esteira.notifications import io
from esteira.notifications.batch import MicroBatch
from esteira.settings import Settings, load_settings

KAFKA = "key binary, value binary, topic string, partition int, offset long, " \
        "timestamp timestamp, timestampType int"


def _msg(mid: str, ts: str, customer: int = 7494212, name: str = "Acme") -> bytes:
    return json.dumps({"customer_id": customer, "message_id": mid, "customer_name": name,
                       "channel": "Whatsapp", "payload": "Olá XXXXX!",
                       "event_datetime": ts}).encode()


def _batch(spark: SparkSession, values: list[bytes], first_offset: int) -> DataFrame:
    rows = [(b"k", v, "t", 0, first_offset + i, datetime(2026, 1, 1), 1)
            for i, v in enumerate(values)]
    return spark.createDataFrame(rows, KAFKA)


def _gold(spark: SparkSession, t: io.Tables) -> dict[str, int]:
    return {r["minute"].strftime("%H:%M"): r["notifications"]
            for r in spark.read.format("delta").load(t.gold).collect()}


@pytest.fixture
def body(engine: str, tmp_path: Path) -> MicroBatch:
    if engine != "spark":
        pytest.skip("Delta MERGE through delta-spark needs the JVM engine (as the stream does)")
    settings: Settings = load_settings(engine="spark", notifications={"root": str(tmp_path)})
    t = io.tables(settings.notifications, settings.home)
    return MicroBatch(settings, t, t.app_id())


def test_replayed_batches_and_re_deliveries_count_once(
    spark: SparkSession, body: MicroBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = body.tables
    first = _batch(spark, [_msg("A", "2020-02-03T14:00:01Z"), _msg("B", "2020-02-03T14:00:30Z"),
                           _msg("A", "2020-02-03T14:00:01Z"), b"quebrado"], 0)
    body(first, 0)
    body(first, 0)  # Spark replays a batch whose commit it did not record
    assert _gold(spark, t) == {"14:00": 2}

    second = _batch(spark, [_msg("B", "2020-02-03T14:00:30Z"), _msg("C", "2020-02-03T14:01:00Z"),
                            _msg("L", "2020-02-03T11:15:00Z")], 4)

    def crash(*_args, **_kw) -> None:
        raise RuntimeError("killed after silver, before gold")

    monkeypatch.setattr(io, "merge_gold", crash)
    with pytest.raises(RuntimeError):
        body(second, 1)
    monkeypatch.undo()
    assert spark.read.format("delta").load(t.silver).count() == 4  # silver has batch 1
    body(second, 1)  # the replay: gold catches up, silver is not appended twice
    assert _gold(spark, t) == {"14:00": 2, "14:01": 1, "11:15": 1}
    assert spark.read.format("delta").load(t.silver).count() == 4
    assert spark.read.format("delta").load(t.bronze).count() == 7
    rejects = spark.read.format("delta").load(t.rejects).collect()
    assert [(r["raw_value"], r["reason"]) for r in rejects] == [("quebrado", "not JSON")]
    progress = spark.read.format("delta").load(t.progress).orderBy("batch_id").collect()
    assert [(p["batch_id"], p["new_messages"], p["duplicates"]) for p in progress] == [
        (0, 2, 1), (1, 2, 1)]
