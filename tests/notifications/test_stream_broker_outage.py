"""Issue 13 item 4(a): the Kafka broker stops for 30 s under the running stream.

A private broker (esteira's own service code, its own home, port and data folder: the
suite's shared broker is never touched) takes real traffic from the generator while the
stream (JVM Spark, in this process) counts it. Mid-traffic the broker is stopped for
30 s and started again on the same data; the producer holds its records meanwhile
(idempotent: none is written twice). The stream must ride it out by itself, and end
with gold equal to the generator's exact counts, one row per key, bronze every record
once.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from esteira import endpoints
from esteira.connectors import kafka_topics
from esteira.datagen.notifications import Spec, Tally, produce
from esteira.notifications import job
from esteira.services import kafka as kafka_service
from esteira.services.local import free_port, port_answers
from esteira.settings import Settings, load_settings
from notifications.stream_helpers import REPO, progress

pytestmark = [pytest.mark.spark_only]
OUTAGE_S = 30


@pytest.fixture
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("private-kafka")
    (home / "jars").mkdir()
    (home / "jars" / "kafka").symlink_to(REPO / ".esteira" / "jars" / "kafka")
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _counted(spark: SparkSession, root: Path) -> tuple[int, int, int]:
    """Messages in gold and silver, records in bronze (gold is written first in a batch:
    a batch is done once silver has it too)."""
    if not all((root / name).is_dir() for name in ("gold", "silver", "bronze")):
        return 0, 0, 0
    gold = spark.read.format("delta").load(str(root / "gold")).groupBy().sum(
        "notifications").first()[0] or 0
    return (gold, spark.read.format("delta").load(str(root / "silver")).count(),
            spark.read.format("delta").load(str(root / "bronze")).count())


def test_the_stream_rides_out_a_30_s_broker_outage_and_gold_ends_exact(
    stream_session: SparkSession, private_home: Path, tmp_path: Path
) -> None:
    root, topic = tmp_path / "lake", "notificacoes-queda"
    settings: Settings = load_settings(
        engine="spark", home=private_home,
        kafka={"bootstrap_servers": None, "port": free_port(), "heap": "256m"},
        notifications={"topic": topic, "partitions": 3, "root": str(root),
                       "trigger_seconds": 0.5, "bronze_trigger_seconds": 2,
                       "max_offsets_per_trigger": 300})
    kafka_service.up(settings)
    try:
        bootstrap = endpoints.kafka_bootstrap(settings)
        port = int(bootstrap.rsplit(":", 1)[1])
        kafka_topics.create_topic(bootstrap, topic, 3)
        spec = Spec(rate=20, duration=60, customers=6, start=datetime(2020, 2, 3, 14, tzinfo=UTC),
                    duplicates=0.05, late=0.03, bad=0.02, seed=13)
        tallies: list[Tally] = []
        seen: dict[str, float] = {}
        progress_log = tmp_path / "progress.jsonl"
        finished = threading.Event()  # the stream returned: stop waiting, start nothing

        def traffic_and_outage() -> None:
            sender = threading.Thread(target=lambda: tallies.append(
                produce(bootstrap, topic, spec, partitions=3, send_rate=20)), daemon=True)
            sender.start()  # 1,200 records over ~60 s (held while the broker is down)
            deadline = time.monotonic() + 900
            while not progress(progress_log) and time.monotonic() < deadline:
                if finished.wait(0.5):
                    return  # until the stream counted a batch (or failed: the test says why)
            kafka_service.down(settings)
            seen["down"] = time.time()
            seen["down_answers"] = port_answers(port)
            if finished.wait(OUTAGE_S):
                return
            kafka_service.up(settings)
            seen["up"] = time.time()
            sender.join(timeout=300)
            deadline = time.monotonic() + 900  # a guard against a hang, not a target
            while time.monotonic() < deadline and not finished.is_set():
                if tallies and _counted(stream_session, root) == (
                        tallies[0].expected_total, tallies[0].expected_total, tallies[0].sent):
                    break  # everything sent is counted
                time.sleep(2)
            for query in stream_session.streams.active:  # the stream's watcher then returns
                query.stop()

        orchestra = threading.Thread(target=traffic_and_outage, daemon=True)
        orchestra.start()
        try:
            job.run(settings, stream_session, job.StreamRequest(progress_log=progress_log))
        finally:
            finished.set()
            orchestra.join(timeout=120)
    finally:
        kafka_service.down(settings)

    assert tallies, "the producer did not finish"
    tally = tallies[0]
    assert seen["down_answers"] is False  # the broker really was gone for the outage
    batches = progress(progress_log)
    before = [b for b in batches if _epoch(b["timestamp"]) < seen["down"]]
    after = [b for b in batches if _epoch(b["timestamp"]) > seen["up"]]
    assert before and after  # it counted before the outage and went on after it
    _assert_exact(stream_session, root, tally)


def _assert_exact(spark: SparkSession, root: Path, tally: Tally) -> None:
    gold = spark.read.format("delta").load(str(root / "gold")).collect()
    keys = [(r["customer_id"], r["customer_name"], r["channel"],
             r["minute"].strftime("%Y-%m-%dT%H:%M:00")) for r in gold]
    assert len(keys) == len(set(keys)), "a gold key has more than one row"
    assert Counter(dict(zip(keys, (r["notifications"] for r in gold), strict=True))) == \
        tally.per_minute
    silver = spark.read.format("delta").load(str(root / "silver"))
    assert silver.count() == silver.select("message_id").distinct().count() == \
        tally.expected_total
    bronze = spark.read.format("delta").load(str(root / "bronze"))
    assert bronze.count() == bronze.select("partition", "offset").distinct().count() == \
        tally.sent


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
