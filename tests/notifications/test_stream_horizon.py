"""Issue 13 item 3: the dedupe horizon through the running stream (JVM Spark, real broker).

The horizon is short here (from config: `notifications.dedupe_horizon_hours` as a
fraction of an hour) so that a test sees it pass. It is measured on the broker's
LogAppendTime (arrival), and Spark keeps an id until the watermark (newest arrival minus
the horizon) passes the id's arrival plus the horizon: a re-delivery inside the horizon
counts once; once the id is evicted (between one and two horizons after it arrived) a
re-delivery counts as a new message. Every expected value comes from what the test sent
and the broker's own timestamps (delivery reports), never from the stream's code.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from esteira.connectors import kafka
from esteira.notifications import job
from esteira.settings import Settings, load_settings
from notifications.stream_helpers import REPO, progress

pytestmark = [pytest.mark.spark_only]


def _settings(topic: str, partitions: int, root: Path, horizon_s: float, **more) -> Settings:
    knobs = {"topic": topic, "partitions": partitions, "root": str(root),
             "trigger_seconds": 0.5, "dedupe_horizon_hours": horizon_s / 3600, **more}
    return load_settings(engine="spark", home=REPO / ".esteira", notifications=knobs)


def _message(mid: str, when: datetime) -> bytes:
    return json.dumps({"customer_id": 7494212, "message_id": mid, "customer_name": "Acme",
                       "channel": "Whatsapp", "payload": "Olá XXXXX!",
                       "event_datetime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}).encode()


class Sender:
    """Sends one record at a time; keeps the offset and LogAppendTime (ms) of each."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.client, self.topic = kafka.producer(bootstrap), topic
        self.arrivals: dict[bytes, list[int]] = {}

    def send(self, value: bytes, partition: int = 0) -> tuple[int, int]:
        got: list[tuple[int, int]] = []

        def delivered(err, msg) -> None:
            assert err is None, err
            got.append((msg.offset(), msg.timestamp()[1]))

        self.client.produce(self.topic, value=value, partition=partition, on_delivery=delivered)
        self.client.flush(30)
        self.arrivals.setdefault(value, []).append(got[0][1])
        return got[0]


def _gold(spark: SparkSession, root: Path) -> int:
    return spark.read.format("delta").load(str(root / "gold")).groupBy().sum(
        "notifications").first()[0]


def _watermark_ms(batch: dict) -> int:
    mark = (batch.get("eventTime") or {}).get("watermark", "1970-01-01T00:00:00.000Z")
    return int(datetime.fromisoformat(mark.replace("Z", "+00:00")).timestamp() * 1000)


def _state(batch: dict) -> dict:
    return batch["stateOperators"][0]


def _end_offset(batch: dict, topic: str, partition: int = 0) -> int:
    """The first offset of `partition` the batch did not read (Spark's own report)."""
    end = batch["sources"][0]["endOffset"]
    end = json.loads(end) if isinstance(end, str) else end
    return int(end[topic][str(partition)])


def test_redeliveries_inside_the_horizon_count_once_and_evicted_ids_keep_the_state_bounded(
    stream_session: SparkSession, kafka_bootstrap: str, kafka_topic: Callable[..., str],
    tmp_path: Path
) -> None:
    horizon_ms = 20_000
    topic, root = kafka_topic(partitions=1), tmp_path / "lake"
    settings = _settings(topic, 1, root, horizon_ms / 1000)
    progress_log = tmp_path / "progress.jsonl"
    sender = Sender(kafka_bootstrap, topic)
    now = datetime.now(UTC)
    first = _message("X", now)
    keys_sent: list[tuple[int, int]] = []  # (offset, arrival) of each new state key
    fillers = 0

    def traffic() -> None:
        nonlocal fillers
        keys_sent.append(sender.send(first))
        keys_sent.append(sender.send(_message("FUTURO", now + timedelta(days=2))))
        began = time.monotonic()
        inside_sent = evicted_sent = False
        while time.monotonic() - began < 3.5 * horizon_ms / 1000 or not evicted_sent:
            keys_sent.append(sender.send(_message(f"f{fillers}", datetime.now(UTC))))
            fillers += 1
            if not inside_sent and time.monotonic() - began > 3:
                sender.send(first)  # a re-delivery 3 s after the first: inside the horizon
                inside_sent = True
            x_expires = sender.arrivals[first][0] + horizon_ms
            if not evicted_sent and any(_watermark_ms(b) > x_expires
                                        for b in progress(progress_log)):
                # a batch ran with the watermark past X's expiry: X left the state
                keys_sent.append(sender.send(first))
                evicted_sent = True
            time.sleep(0.25)
            assert time.monotonic() - began < 900, "the watermark never passed X's expiry"

    producer = threading.Thread(target=traffic, daemon=True)
    producer.start()
    job.run(settings, stream_session, job.StreamRequest(until_idle=4, progress_log=progress_log))
    producer.join(timeout=30)
    assert len(sender.arrivals[first]) == 3, "the producer did not finish"

    # X counted twice (first delivery and the one after eviction), never the one inside
    assert _gold(stream_session, root) == fillers + 2
    silver = stream_session.read.format("delta").load(str(root / "silver"))
    assert silver.filter("message_id = 'X'").count() == 2
    assert silver.count() == fillers + 2
    rejects = stream_session.read.format("delta").load(str(root / "rejects")).collect()
    assert [r["reason"] for r in rejects] == ["in the future: event_datetime"]

    batches = progress(progress_log)
    dropped = sum(_state(b)["customMetrics"]["numDroppedDuplicateRows"] for b in batches)
    assert dropped == 1
    # eviction: after every batch the state holds at most the keys read so far that
    # arrived within a horizon of that batch's watermark (1 s of slack for rounding);
    # by the end that is well under every key read, and Spark removed exactly the rest
    for batch in batches:
        read = [arrived for offset, arrived in keys_sent if offset < _end_offset(batch, topic)]
        alive = sum(1 for arrived in read if arrived + horizon_ms >= _watermark_ms(batch) - 1000)
        assert _state(batch)["numRowsTotal"] <= alive, (batch["batchId"], alive)
    last = _state(batches[-1])["numRowsTotal"]
    assert 0 < last < alive < len(keys_sent), (last, alive, len(keys_sent))
    assert sum(_state(b)["numRowsRemoved"] for b in batches) == len(keys_sent) - last


def test_a_partition_a_horizon_behind_is_dropped_by_the_watermark_and_the_stream_says_so(
    stream_session: SparkSession, kafka_bootstrap: str, kafka_topic: Callable[..., str],
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The caveat of an arrival-time watermark (README): a record that reaches the query
    more than a horizon (of arrival) behind records already read is dropped by Spark, and
    the stream logs a warning with Spark's count. Staged with two partitions: 30 records
    on partition 0, a horizon later 1 on partition 1, 10 records per batch: the first
    batch takes 9 + 1 (Spark splits the cap by backlog) and its watermark passes
    partition 0's arrival. Spark drops late rows against the PREVIOUS batch's watermark
    (it evicts state against the current one), so the batch after next drops on: the
    expected drops are computed from each batch's offsets (Spark's report), the
    watermark of the batch before it and the broker's timestamps of what the test sent."""
    horizon_s = 8
    topic, root = kafka_topic(partitions=2), tmp_path / "lake"
    sender = Sender(kafka_bootstrap, topic)
    now = datetime.now(UTC)
    arrivals: dict[tuple[int, int], int] = {}
    for i in range(30):
        arrivals[(0, i)] = sender.send(_message(f"p0-{i}", now), partition=0)[1]
    time.sleep(horizon_s + 4)
    arrivals[(1, 0)] = sender.send(_message("p1-0", now), partition=1)[1]
    settings = _settings(topic, 2, root, horizon_s, max_offsets_per_trigger=10)
    progress_log = tmp_path / "progress.jsonl"
    caplog.set_level(logging.WARNING, logger="esteira.notifications.job")
    job.run(settings, stream_session, job.StreamRequest(until_idle=3, progress_log=progress_log))

    batches = progress(progress_log)
    assert 0 < _end_offset(batches[0], topic, 0) < 30 and _end_offset(batches[0], topic, 1) == 1
    expected_dropped = 0
    for before, batch in zip(batches, batches[1:], strict=False):
        late_from = _watermark_ms(before)
        for part in (0, 1):
            first, end = _end_offset(before, topic, part), _end_offset(batch, topic, part)
            expected_dropped += sum(1 for o in range(first, end)
                                    if arrivals[(part, o)] <= late_from)
    assert expected_dropped > 0
    assert sum(_state(b)["numRowsDroppedByWatermark"] for b in batches) == expected_dropped
    warned = [m for m in (r.getMessage() for r in caplog.records) if "over the dedupe" in m]
    assert sum(int(m.split(": ")[1].split()[0]) for m in warned) == expected_dropped
    assert _gold(stream_session, root) == 31 - expected_dropped
