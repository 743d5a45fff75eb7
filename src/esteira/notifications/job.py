"""The notification stream: Kafka -> bronze, and Kafka -> silver (+ rejects) -> gold.

Two Structured Streaming queries in one Spark application read the topic:
- bronze: every record into Delta's streaming sink (append, its own checkpoint);
- dedupe: parse -> drop re-deliveries in Spark's state store (RocksDB, a watermark on
  arrival time) -> `MicroBatch` (foreachBatch), which writes rejects, silver and gold
  with the batch's Delta transaction id (esteira.notifications.micro_batch).
See esteira.notifications.io for why a SIGKILL at any moment loses nothing and counts
nothing twice. JVM Spark only: Sail has no Kafka source.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pyspark.sql import Row, SparkSession

from esteira import endpoints, streaming
from esteira.connectors import kafka_topics
from esteira.errors import EngineError
from esteira.notifications import io, transforms
from esteira.notifications.micro_batch import MicroBatch, StreamResult
from esteira.runlog import Run, track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamRequest:
    until_idle: float | None = None  # seconds without input before stopping; None: never
    progress_log: Path | None = None  # each dedupe batch's Spark progress (JSON lines)


def run(settings: Settings, session: SparkSession, request: StreamRequest) -> StreamResult:
    """Runs the stream; with `until_idle`, stops after that many seconds without input."""
    require_spark(settings)
    cfg = settings.notifications
    bootstrap = endpoints.kafka_bootstrap(settings)
    kafka_topics.ensure_topic(bootstrap, cfg.topic, cfg.partitions)
    t = io.tables(cfg, settings.home)
    body = MicroBatch(settings, t, t.app_id())
    io.build_missing_rollup(session, t, body.app_id, transforms.rollup_of_gold)
    # the shuffle partitions of a stateful query are fixed when its checkpoint is
    # created: 2, one per core
    streaming.configure(session, **{"spark.sql.shuffle.partitions": "2"})

    def on_progress(i: int, progress) -> None:
        if i == 0:  # the dedupe query
            _account(progress, body.result, request.progress_log)

    with track_run(settings.runs_file, "notifications.stream", settings.engine) as run_rec:
        log.info("starting the stream: topic %s -> %s (checkpoints %s, %s)",
                 cfg.topic, t.root, t.checkpoint, t.bronze_checkpoint)
        try:
            streaming.run_queries(_starters(session, bootstrap, cfg, t, body),
                                  until_idle=request.until_idle, on_progress=on_progress,
                                  name="notification stream")
        finally:  # a failed run still shows what its committed batches counted
            _record(run_rec, body.result)
    return body.result


def _starters(session: SparkSession, bootstrap: str, cfg, t: io.Tables,
              body: MicroBatch) -> list:
    """How to start (and restart) the dedupe query and the bronze one (same topic)."""
    horizon = timedelta(hours=cfg.dedupe_horizon_hours)

    def dedupe():
        records = transforms.bronze_rows(io.read_topic(session, bootstrap, cfg))
        firsts = transforms.first_deliveries(transforms.parse_messages(records), horizon)
        return io.write_batches(firsts, body, t, cfg.trigger_seconds)

    def bronze():
        return io.write_bronze(transforms.bronze_rows(io.read_topic(session, bootstrap, cfg)),
                               t, cfg.bronze_trigger_seconds)

    return [dedupe, bronze]


def _record(run_rec: Run, result: StreamResult) -> None:
    run_rec.inputs["kafka"] = result.records
    run_rec.outputs["silver"] = result.new_messages
    run_rec.outputs["rejects"] = result.rejected
    run_rec.record_quality("notifications", result.quality)


def require_spark(settings: Settings) -> None:
    """Streaming from Kafka needs JVM Spark: say so before any work starts."""
    if settings.engine != "spark":
        raise EngineError(
            f"the notification stream runs on the JVM engine only (Kafka source); "
            f"engine {settings.engine!r} has none: "
            "use `esteira --engine spark notifications stream`"
        )


def usage(settings: Settings, session: SparkSession) -> list[Row]:
    """Gold summed per customer and channel, with the last update (the panel's numbers)."""
    gold = io.read_gold(session, io.tables(settings.notifications, settings.home))
    return transforms.usage_per_customer(gold).collect()


def _account(progress, result: StreamResult, progress_log: Path | None) -> None:
    """Records and re-deliveries of one dedupe batch, from Spark's progress report."""
    result.records += progress.get("numInputRows", 0)
    for op in progress.get("stateOperators") or []:
        result.duplicates += (op.get("customMetrics") or {}).get("numDroppedDuplicateRows", 0)
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
