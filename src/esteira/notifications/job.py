"""The notification stream: Kafka -> bronze, and Kafka -> silver (+ rejects) -> gold.

Two Structured Streaming queries in one Spark application read the topic:
- bronze: every record into Delta's streaming sink (append, its own checkpoint);
- dedupe: parse -> drop re-deliveries in Spark's state store (RocksDB, a watermark on
  arrival time) -> `esteira.notifications.batch.MicroBatch` (foreachBatch), which writes
  rejects, silver and gold with the batch's Delta transaction id.
See esteira.notifications.io for why a SIGKILL at any moment loses nothing and counts
nothing twice. JVM Spark only: Sail has no Kafka source.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from pathlib import Path

from pyspark.sql import SparkSession

from esteira.errors import EngineError, InputError, ServiceError
from esteira.notifications import io
from esteira.notifications import transforms as T
from esteira.notifications.batch import MicroBatch, StreamTotals
from esteira.runlog import track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)
# Spark 4.1.1's Kafka source throws this NPE while reporting progress for the batch it
# replays after a crash; the batch itself and its commit are done by then (SPARK-55271,
# SPARK-57438), so starting the query again from the checkpoint is safe.
_SPARK_55271 = 'IterableOps.map(scala.Function1)" because the return value of "scala.Option.get()"'
_RESTARTS = 6  # in one run, over both queries
# Streaming settings of the session that runs both queries. The dedupe state lives in
# RocksDB (off-heap, spills to disk; changelog checkpointing writes only what changed per
# batch); the shuffle partitions of a stateful query are fixed when its checkpoint is
# created: 2, one per core.
STREAMING_CONF = {
    "spark.sql.streaming.stateStore.providerClass":
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
    "spark.sql.shuffle.partitions": "2",
    # state expiry happens in the next batch with data, not in an extra empty batch
    "spark.sql.streaming.noDataMicroBatches.enabled": "false",
    "spark.databricks.delta.optimizeWrite.enabled": "false",
    "spark.databricks.delta.autoCompact.enabled": "false",
    # Tables this stream creates write a Delta checkpoint every 100 commits, not 10: the
    # checkpoint is written inside the commit, and every table is written once per batch,
    # so at 10 all of them checkpointed in the same batch and stalled the stream every
    # ten batches (the freshness benchmark's p95). Existing tables keep their interval.
    "spark.databricks.delta.properties.defaults.checkpointInterval": "100",
    # gold's MERGE source is a small local relation built from the collected batch
    # summary: deterministic, nothing to copy first
    "spark.databricks.delta.merge.materializeSource": "none",
}


def run(settings: Settings, session: SparkSession, *, until_idle: float | None = None,
        progress_log: Path | None = None) -> StreamTotals:
    """Runs the stream; with `until_idle`, stops after that many seconds without input."""
    require_spark(settings)
    from esteira.services.kafka import bootstrap_servers

    cfg = settings.notifications
    bootstrap = bootstrap_servers(settings)
    io.ensure_topic(bootstrap, cfg)
    t = io.tables(cfg, settings.home)
    app_id = t.app_id()
    body = MicroBatch(settings, t, app_id)
    for key, value in STREAMING_CONF.items():
        session.conf.set(key, value)
    with track_run(settings.runs_file, "notifications.stream", settings.engine) as run_rec:
        starters = _starters(session, bootstrap, cfg, t, body)
        queries = [start() for start in starters]
        log.info("stream started: topic %s -> %s (checkpoints %s, %s)",
                 cfg.topic, t.root, t.checkpoint, t.bronze_checkpoint)
        try:
            _watch(queries, starters, body.totals, until_idle, progress_log)
        finally:
            for query in queries:
                if query.isActive:
                    query.stop()
        run_rec.inputs["kafka"] = body.totals.records
        run_rec.outputs["silver"] = body.totals.new_messages
        run_rec.outputs["rejects"] = body.totals.rejected
    return body.totals


def _starters(session: SparkSession, bootstrap: str, cfg, t: io.Tables,
              body: MicroBatch) -> list:
    """How to start (and restart) the dedupe query and the bronze one (same topic)."""
    horizon = timedelta(hours=cfg.dedupe_horizon_hours)

    def dedupe():
        kafka_rows = T.bronze_rows(io.read_kafka(session, bootstrap, cfg))
        writer = (
            T.first_deliveries(T.parse_messages(kafka_rows), horizon).writeStream
            .queryName("notifications").foreachBatch(body)
            .option("checkpointLocation", t.checkpoint)
        )
        if cfg.trigger_seconds > 0:
            writer = writer.trigger(processingTime=f"{cfg.trigger_seconds} seconds")
        return writer.start()

    def bronze():
        return io.write_bronze(T.bronze_rows(io.read_kafka(session, bootstrap, cfg)), t,
                               cfg.bronze_trigger_seconds)

    return [dedupe, bronze]


def require_spark(settings: Settings) -> None:
    """Streaming from Kafka needs JVM Spark: say so before any work starts."""
    if settings.engine != "spark":
        raise EngineError(
            f"the notification stream runs on the JVM engine only (Kafka source); "
            f"engine {settings.engine!r} has none: "
            "use `esteira --engine spark notifications stream`"
        )


def usage(settings: Settings, session: SparkSession) -> list:
    """Gold summed per customer and channel, with the last update (the panel's numbers)."""
    t = io.tables(settings.notifications, settings.home)
    gold = io.read_or_none(session, t.gold)
    if gold is None:
        raise InputError(t.gold, "no gold table yet: run `esteira notifications stream` first")
    return T.usage_per_customer(gold).collect()


def _watch(queries: list, starters: list, totals: StreamTotals, until_idle: float | None,
           progress_log: Path | None) -> None:
    """Waits for both queries (the first is the dedupe one: its progress goes to
    `progress_log` and the totals); stops once no record arrived for `until_idle` s.
    A query that hit SPARK-55271 is restarted from its checkpoint, the other one runs on."""
    last_input = time.monotonic()
    seen = [-1] * len(queries)
    restarts = 0
    while True:
        for i, query in enumerate(queries):
            failure = query.exception()
            if failure is None:
                continue
            if _SPARK_55271 not in str(failure):
                raise ServiceError(f"the notification stream failed: {_first_line(failure)}")
            restarts += 1
            if restarts > _RESTARTS:
                raise ServiceError("the stream kept failing on SPARK-55271")
            log.warning("Spark 4.1.1 bug SPARK-55271 after a replayed batch (already "
                        "committed): restarting query %s from its checkpoint", query.name)
            queries[i] = starters[i]()
        if not all(query.isActive for query in queries):
            return
        for i, query in enumerate(queries):
            for progress in query.recentProgress:
                if progress["batchId"] <= seen[i] or progress.get("numInputRows", 0) == 0:
                    continue
                seen[i] = progress["batchId"]
                last_input = time.monotonic()
                if i == 0:
                    _account(progress, totals, progress_log)
        busy = any(q.status.get("isTriggerActive") or q.status.get("isDataAvailable")
                   for q in queries)
        if until_idle is not None and not busy and time.monotonic() - last_input >= until_idle:
            log.info("no input for %.0f s: stopping the stream", until_idle)
            return
        time.sleep(0.5)


def _account(progress, totals: StreamTotals, progress_log: Path | None) -> None:
    """Records and re-deliveries of one dedupe batch, from Spark's progress report."""
    totals.records += progress.get("numInputRows", 0)
    for op in progress.get("stateOperators") or []:
        totals.duplicates += (op.get("customMetrics") or {}).get("numDroppedDuplicateRows", 0)
        late = op.get("numRowsDroppedByWatermark", 0)
        if late:  # arrival more than the horizon behind the newest arrival: see README
            log.warning("batch %s: %d records arrived over the dedupe horizon behind the "
                        "newest and were dropped", progress["batchId"], late)
    if progress_log is not None:
        with progress_log.open("a", encoding="utf-8") as fh:
            fh.write(_progress_json(progress) + "\n")


def _progress_json(progress: object) -> str:
    text = getattr(progress, "json", None)
    return text if isinstance(text, str) else json.dumps(progress, default=str)


def _first_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__
