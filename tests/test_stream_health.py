"""A stream that falls behind or stops, seen on a real Kafka topic and a real Spark query
(engine spark: the Kafka source is JVM Spark's): the watcher's alerts and
`esteira run stream-health` against the query's own checkpoint."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from esteira import alerts, streaming
from esteira.alerts import AlertSettings
from esteira.connectors import kafka
from webhook_server import Webhook, webhook  # noqa: F401 - the fixture


@pytest.fixture
def spark_only(engine: str) -> None:
    if engine != "spark":
        pytest.skip("the Kafka source is JVM Spark's (engine spark)")


def _send(bootstrap: str, topic: str, n: int, start: int = 0) -> None:
    kafka.produce(bootstrap, topic, [(f"k{i}", f"v{i}") for i in range(start, start + n)])


def _starter(spark, bootstrap: str, topic: str, checkpoint: Path, per_batch: int | None,
             once: bool):
    def start():
        frames = kafka.read_stream(spark, bootstrap, topic, "earliest", per_batch)
        writer = frames.writeStream.format("noop").option("checkpointLocation", str(checkpoint))
        writer = writer.trigger(availableNow=True) if once else writer.trigger(
            processingTime="500 milliseconds")
        return writer.start()
    return start


def test_the_watcher_alerts_when_the_stream_falls_behind_and_when_it_stops(
    spark_only, spark, kafka_bootstrap, kafka_topic, tmp_path, webhook: Webhook  # noqa: F811
):
    topic = kafka_topic(partitions=1)
    _send(kafka_bootstrap, topic, 12)
    alerts.configure(AlertSettings(webhook_url=webhook.url, stream_max_offsets_behind=5))
    # 3 records a batch over 12: after the first batch 9 wait (> 5), then 6, 3, 0
    start = _starter(spark, kafka_bootstrap, topic, tmp_path / "cp1", 3, once=False)
    streaming.run_queries([start], until_idle=3, name="test stream")
    [behind] = webhook.bodies("stream_behind")
    assert behind["offsets_behind"] == 9 and behind["threshold"] == 5
    assert behind["stream"] == "test stream"
    assert webhook.bodies("stream_stopped") == []  # an idle stop is no alert

    queries = []

    def start_and_keep():
        queries.append(_starter(spark, kafka_bootstrap, topic, tmp_path / "cp2", None,
                                once=False)())
        return queries[-1]

    def stop_from_outside() -> None:  # as an operator or a cluster restart would
        queries[0].stop()

    stopper = threading.Timer(4.0, stop_from_outside)
    stopper.start()
    began = time.monotonic()
    streaming.run_queries([start_and_keep], name="test stream")  # no idle stop: runs on
    stopper.join()
    assert time.monotonic() - began < 60
    [stopped] = webhook.bodies("stream_stopped")
    assert stopped["stream"] == "test stream" and len(stopped["queries"]) == 1


def test_stream_health_reads_the_checkpoint_against_the_topic(
    spark_only, spark, run_cli, kafka_bootstrap, kafka_topic, tmp_path, monkeypatch,
    webhook: Webhook,  # noqa: F811
):
    topic = kafka_topic(partitions=2)
    _send(kafka_bootstrap, topic, 10)
    root = tmp_path / "notifications"
    monkeypatch.setenv("ESTEIRA_NOTIFICATIONS__ROOT", str(root))
    monkeypatch.setenv("ESTEIRA_NOTIFICATIONS__TOPIC", topic)
    code, _, err = run_cli("run", "stream-health")
    assert code == 2 and "the stream has not run here" in err

    _starter(spark, kafka_bootstrap, topic, root / "checkpoint", None, once=True)() \
        .awaitTermination(120)
    code, out, _ = run_cli("run", "stream-health")
    assert code == 0 and f"stream {topic}: 0 registros atrás" in out

    _send(kafka_bootstrap, topic, 7, start=10)  # 7 more than the checkpoint has read
    code, out, _ = run_cli("run", "stream-health", "--max-behind", "10")
    assert code == 0 and "7 registros atrás" in out  # behind, within the limit, recent
    code, out, _ = run_cli("run", "stream-health", "--max-behind", "5", "--alert")
    assert code == 1 and "7 registros atrás (limite 5)" in out
    [behind] = webhook.bodies("stream_behind")
    assert behind["offsets_behind"] == 7 and behind["threshold"] == 5
    code, _, _ = run_cli("run", "stream-health", "--max-idle", "0", "--alert")
    assert code == 1  # records wait and no batch ran since: stopped
    assert webhook.bodies("stream_stopped")[0]["offsets_behind"] == 7
