"""The notification stream: Kafka -> bronze -> silver (+ rejects) -> gold, exactly once.

Spark Structured Streaming reads the topic and hands each micro-batch to
`MicroBatch.__call__` (foreachBatch), which writes all five tables with the batch's
Delta transaction id; see esteira.notifications.io for why a SIGKILL at any moment
loses nothing and counts nothing twice. JVM Spark only: Sail has no Kafka source.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.errors import EngineError, InputError, ServiceError
from esteira.notifications import io
from esteira.notifications import transforms as T
from esteira.runlog import track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class StreamTotals:
    batches: int = 0
    records: int = 0
    new_messages: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class MicroBatch:
    """foreachBatch body: every write is idempotent under (app_id, batch_id)."""

    def __init__(self, settings: Settings, tables: io.Tables, app_id: str) -> None:
        cfg = settings.notifications
        self.tables = tables
        self.app_id = app_id
        self.horizon = timedelta(hours=cfg.dedupe_horizon_hours)
        self.max_lateness = timedelta(days=cfg.max_lateness_days)
        self.totals = StreamTotals()

    def __call__(self, kafka: DataFrame, batch_id: int) -> None:
        session = kafka.sparkSession
        t, app = self.tables, self.app_id
        now = datetime.now(UTC).replace(tzinfo=None)
        bronze = T.bronze_rows(kafka, batch_id, app, now).persist()
        try:
            self._process(session, bronze, batch_id, now)
        finally:
            bronze.unpersist()
        log.debug("batch %d of %s done", batch_id, t.root)

    def _process(self, session: SparkSession, bronze: DataFrame, batch_id: int,
                 now: datetime) -> None:
        t, app = self.tables, self.app_id
        io.append(bronze, t.bronze, "ingest_date", app, batch_id)
        parsed = T.parse_messages(bronze)
        stats = parsed.agg(
            F.count(F.lit(1)).alias("records"),
            F.max(F.when(F.col("reason").isNull(), F.col("event_datetime"))).alias("newest"),
        ).first()
        if not stats or stats["records"] == 0:
            return
        previous = io.previous_watermark(session, t, app, batch_id)
        candidates = [w for w in (previous, stats["newest"]) if w is not None]
        watermark = max(candidates) if candidates else None
        marked = T.too_late(parsed, watermark, self.max_lateness).persist()
        try:
            rejected = T.rejects(marked)
            io.append(rejected, t.rejects, "ingest_date", app, batch_id)
            reasons = {r["reason"]: r["n"] for r in
                       rejected.groupBy("reason").agg(F.count(F.lit(1)).alias("n")).collect()}
            valid = T.valid_messages(marked)
            silver = io.read_or_none(session, t.silver)
            new = T.dedupe_batch(valid)
            if silver is not None:
                new = T.drop_seen(new, T.seen_ids(silver, watermark, self.horizon, app, batch_id))
            new = new.persist()
            try:
                io.append(new, t.silver, "event_date", app, batch_id)
                increments = T.count_per_minute(new, now).persist()
                dates = [r["event_date"] for r in increments.select("event_date").distinct()
                         .collect()]
                n_new = new.count()
                if dates:
                    io.merge_gold(session, increments, t.gold, app, batch_id, dates)
                increments.unpersist()
            finally:
                new.unpersist()
        finally:
            marked.unpersist()
        committed = datetime.now(UTC).replace(tzinfo=None)
        n_rejected = sum(reasons.values())
        n_dupes = stats["records"] - n_rejected - n_new
        progress = session.createDataFrame(
            [(app, batch_id, watermark, stats["records"], n_new, n_dupes, n_rejected,
              json.dumps(reasons, ensure_ascii=False), now, committed)],
            "app_id string, batch_id long, watermark timestamp, records long, "
            "new_messages long, duplicates long, rejected long, reasons string, "
            "started_at timestamp, gold_committed_at timestamp",
        ).withColumn("day", F.to_date("started_at"))
        io.append(progress, t.progress, "day", app, batch_id)
        tot = self.totals
        tot.batches += 1
        tot.records += stats["records"]
        tot.new_messages += n_new
        tot.duplicates += n_dupes
        tot.rejected += n_rejected
        for reason, n in reasons.items():
            tot.reasons[reason] = tot.reasons.get(reason, 0) + n
        log.info("batch %d: %d records, %d new, %d re-deliveries, %d rejected",
                 batch_id, stats["records"], n_new, n_dupes, n_rejected)


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
    with track_run(settings.runs_file, "notifications.stream", settings.engine) as run_rec:
        writer = (
            io.read_kafka(session, bootstrap, cfg).writeStream
            .queryName("notifications")
            .foreachBatch(body)
            .option("checkpointLocation", t.checkpoint)
        )
        if cfg.trigger_seconds > 0:
            writer = writer.trigger(processingTime=f"{cfg.trigger_seconds} seconds")
        query = writer.start()
        log.info("stream started: topic %s -> %s (checkpoint %s)", cfg.topic, t.root, t.checkpoint)
        try:
            _watch(query, until_idle, progress_log)
        finally:
            if query.isActive:
                query.stop()
        run_rec.inputs["kafka"] = body.totals.records
        run_rec.outputs["silver"] = body.totals.new_messages
        run_rec.outputs["rejects"] = body.totals.rejected
    return body.totals


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


def _watch(query, until_idle: float | None, progress_log: Path | None) -> None:
    """Waits for the query; stops it once no record arrived for `until_idle` seconds."""
    last_input = time.monotonic()
    seen_batch = -1
    while True:
        if query.exception() is not None:
            raise ServiceError(f"the notification stream failed: {_first_line(query.exception())}")
        if not query.isActive:
            return
        for progress in query.recentProgress:
            if progress["batchId"] > seen_batch and progress.get("numInputRows", 0) > 0:
                seen_batch = progress["batchId"]
                last_input = time.monotonic()
                if progress_log is not None:
                    with progress_log.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(progress) + "\n")
        status = query.status
        busy = status.get("isTriggerActive") or status.get("isDataAvailable")
        if until_idle is not None and not busy and time.monotonic() - last_input >= until_idle:
            log.info("no input for %.0f s: stopping the stream", until_idle)
            return
        time.sleep(0.5)


def _first_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__
