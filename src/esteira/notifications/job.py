"""The notification stream: Kafka -> bronze -> silver (+ rejects) -> gold, exactly once.

Spark Structured Streaming reads the topic and hands each micro-batch to
`esteira.notifications.batch.MicroBatch` (foreachBatch), which writes all five tables
with the batch's Delta transaction id; see esteira.notifications.io for why a SIGKILL at any moment
loses nothing and counts nothing twice. JVM Spark only: Sail has no Kafka source.
"""

from __future__ import annotations

import json
import logging
import time
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
_RESTARTS = 3


class _KnownSparkBug(Exception):
    pass


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
        for attempt in range(_RESTARTS + 1):
            query = writer.start()
            log.info("stream started: topic %s -> %s (checkpoint %s)",
                     cfg.topic, t.root, t.checkpoint)
            try:
                _watch(query, until_idle, progress_log)
                break
            except _KnownSparkBug:
                if attempt == _RESTARTS:
                    raise ServiceError("the stream kept failing on SPARK-55271") from None
                log.warning("Spark 4.1.1 bug SPARK-55271 after a replayed batch (already "
                            "committed): restarting the query from its checkpoint")
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
        failure = query.exception()
        if failure is not None:
            if _SPARK_55271 in str(failure):
                raise _KnownSparkBug
            raise ServiceError(f"the notification stream failed: {_first_line(failure)}")
        if not query.isActive:
            return
        for progress in query.recentProgress:
            if progress["batchId"] > seen_batch and progress.get("numInputRows", 0) > 0:
                seen_batch = progress["batchId"]
                last_input = time.monotonic()
                if progress_log is not None:
                    with progress_log.open("a", encoding="utf-8") as fh:
                        fh.write(_progress_json(progress) + "\n")
        status = query.status
        busy = status.get("isTriggerActive") or status.get("isDataAvailable")
        if until_idle is not None and not busy and time.monotonic() - last_input >= until_idle:
            log.info("no input for %.0f s: stopping the stream", until_idle)
            return
        time.sleep(0.5)


def _progress_json(progress: object) -> str:
    text = getattr(progress, "json", None)
    return text if isinstance(text, str) else json.dumps(progress, default=str)


def _first_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__
