"""One micro-batch at a time (JVM Spark, real Delta): replays change nothing.

The stream hands `MicroBatch` parsed records its state store has already stripped of
re-deliveries; here the test does (one batch's worth), so a crash between two writes
can be staged precisely and the batch replayed. Re-deliveries across batches and
restarts are the stream's state store: tests/notifications/test_stream_crash.py.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from esteira.notifications import io, job, micro_batch
from esteira.notifications.micro_batch import MicroBatch
from esteira.runlog import Run
from esteira.settings import Settings, load_settings
from notifications.stream_helpers import kafka_batch


def _msg(mid: str, ts: str, customer: int = 7494212, name: str = "Acme") -> bytes:
    return json.dumps({"customer_id": customer, "message_id": mid, "customer_name": name,
                       "channel": "Whatsapp", "payload": "Olá XXXXX!",
                       "event_datetime": ts}).encode()


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


def test_replayed_batches_count_once_and_the_watermark_survives_a_restart(
    spark: SparkSession, body: MicroBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = body.tables
    first = kafka_batch(spark, [
        _msg("A", "2020-02-03T14:00:01Z"), _msg("B", "2020-02-03T14:00:30Z"),
        _msg("A", "2020-02-03T14:00:01Z"), b"quebrado"], 0)
    body(first, 0)
    body(first, 0)  # Spark replays a batch whose commit it did not record
    assert _gold(spark, t) == {"14:00": 2}

    second = kafka_batch(spark, [
        _msg("C", "2020-02-03T14:01:00Z"), _msg("C", "2020-02-03T14:01:00Z"),
        _msg("L", "2020-02-03T11:15:00Z")], 4)

    def crash(*_args, **_kw) -> None:
        raise RuntimeError("killed after gold, before silver")

    monkeypatch.setattr(io, "append_silver", crash)
    with pytest.raises(RuntimeError):
        body(second, 1)
    monkeypatch.undo()
    assert _gold(spark, t) == {"14:00": 2, "14:01": 1, "11:15": 1}  # gold has batch 1
    assert spark.read.format("delta").load(t.silver).count() == 2
    body(second, 1)  # the replay: silver catches up, gold is not counted twice
    assert _gold(spark, t) == {"14:00": 2, "14:01": 1, "11:15": 1}
    assert spark.read.format("delta").load(t.silver).count() == 4
    rejects = spark.read.format("delta").load(t.rejects).collect()
    assert [(r["raw_value"], r["reason"]) for r in rejects] == [("quebrado", "not JSON")]

    # a restart: the too-late rule's watermark (3 Feb 14:01) comes back from gold's
    # commit metadata, so more than 35 days before it is too late, 35 days is not
    restarted = MicroBatch(load_settings(engine="spark", notifications={"root": str(t.root)}),
                           t, body.app_id)
    old = [_msg("VELHA", "2019-12-30T14:00:59Z"), _msg("LIMITE", "2019-12-30T14:01:00Z")]
    restarted(kafka_batch(spark, old, 7), 2)
    december = spark.read.format("delta").load(t.gold).filter("minute < '2020-01-01'")
    assert [(r["minute"], r["notifications"]) for r in december.collect()] == [
        (datetime(2019, 12, 30, 14, 1), 1)]
    reasons = sorted(r["reason"] for r in spark.read.format("delta").load(t.rejects).collect())
    assert reasons == ["not JSON", "too late"]


def test_a_batch_rewrites_only_the_hours_it_counts(spark: SparkSession,
                                                   body: MicroBatch) -> None:
    """Gold is partitioned by hour: adding to 15:00 leaves 14:59's file alone (by date
    alone, one file held both and every MERGE copied the whole day so far)."""
    t = body.tables
    body(kafka_batch(spark, [_msg("A", "2020-02-03T14:59:01Z"), _msg("B", "2020-02-03T15:00:30Z")],
                0), 0)
    body(kafka_batch(spark, [_msg("C", "2020-02-03T15:00:40Z")], 2), 1)
    assert _gold(spark, t) == {"14:59": 1, "15:00": 2}
    last = max(Path(t.gold, "_delta_log").glob("*.json"))
    actions = [json.loads(line) for line in last.read_text(encoding="utf-8").splitlines()]
    removed = [a["remove"]["path"] for a in actions if "remove" in a]
    added = [a["add"]["path"] for a in actions if "add" in a]
    assert removed and added
    assert all("event_date=2020-02-03/event_hour=15/" in p for p in removed + added), (
        removed + added)


def test_a_backlog_batch_appends_silver_beside_gold_and_still_counts_once(
    spark: SparkSession, body: MicroBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over GOLD_ALONE_UP_TO messages silver is appended while gold merges: same rows."""
    monkeypatch.setattr(micro_batch, "GOLD_ALONE_UP_TO", 0)
    t = body.tables
    big = kafka_batch(spark, [_msg("A", "2020-02-03T14:00:01Z"), _msg("B", "2020-02-03T14:00:30Z"),
                         b"quebrado"], 0)
    body(big, 0)
    body(big, 0)  # replayed
    assert _gold(spark, t) == {"14:00": 2}
    silver = spark.read.format("delta").load(t.silver).collect()
    assert sorted(r["message_id"] for r in silver) == ["A", "B"]
    assert spark.read.format("delta").load(t.rejects).count() == 1


def test_each_batch_counts_its_rejects_per_rule_and_the_run_records_them(
    spark: SparkSession, body: MicroBatch
) -> None:
    body(kafka_batch(spark, [_msg("A", "2020-02-03T14:00:01Z"), b"quebrado", _msg("B", "ontem"),
                        json.dumps({"message_id": "C"}).encode()], 0), 0)
    # 35 days before the watermark (3 Feb 14:01) is 30 Dec 14:01: 1 Dec is too late
    body(kafka_batch(spark, [_msg("D", "2020-02-03T14:01:00Z"), _msg("V", "2019-12-01T00:00:00Z")],
                4), 1)
    result = body.result
    assert (result.batches, result.new_messages, result.rejected) == (2, 2, 4)
    report = result.quality
    assert (report.rows, report.rejected, report.passed) == (6, 4, 2)
    assert report.failures == {"not_json": 1, "missing_field": 1, "wrong_type": 1,
                               "in_the_future": 0, "too_late": 1}
    run = Run(pipeline="notifications.stream", engine="spark")
    job._record(run, result)
    assert run.rules["notifications.too_late"] == {"action": "drop", "failed": 1}
    assert run.outputs == {"silver": 2, "rejects": 4}
