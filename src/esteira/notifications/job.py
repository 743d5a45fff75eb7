"""The notification stream: Kafka -> bronze, and Kafka -> silver (+ rejects) -> gold.

Two Structured Streaming queries in one Spark application read the topic:
- bronze: every record into Delta's streaming sink (append, its own checkpoint);
- dedupe: parse -> drop re-deliveries in Spark's state store (RocksDB, a watermark on
  arrival time) -> `MicroBatch` (foreachBatch), which writes rejects, silver and gold
  with the batch's Delta transaction id.
See esteira.notifications.io for why a SIGKILL at any moment loses nothing and counts
nothing twice. JVM Spark only: Sail has no Kafka source.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from esteira import endpoints, streaming
from esteira.connectors import kafka
from esteira.connectors.delta import Txn
from esteira.errors import EngineError
from esteira.notifications import io, transforms
from esteira.notifications.schemas import SUMMARY_SCHEMA
from esteira.quality import Expectation, QualityReport, rule_column
from esteira.runlog import Run, track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)
# At 5,000 msg/s a caught-up batch holds about 40,000 messages; at 20,000 about 500,000.
GOLD_ALONE_UP_TO = 150_000


@dataclass(frozen=True)
class StreamRequest:
    until_idle: float | None = None  # seconds without input before stopping; None: never
    progress_log: Path | None = None  # each dedupe batch's Spark progress (JSON lines)


@dataclass
class StreamResult:
    """What this run's batches did (a batch replayed here is counted again)."""

    quality: QualityReport  # the batches' summaries: messages kept and set aside per rule
    batches: int = 0
    records: int = 0
    duplicates: int = 0

    @property
    def new_messages(self) -> int:
        return self.quality.passed

    @property
    def rejected(self) -> int:
        return self.quality.rejected


def run(settings: Settings, session: SparkSession, request: StreamRequest) -> StreamResult:
    """Runs the stream; with `until_idle`, stops after that many seconds without input."""
    require_spark(settings)
    cfg = settings.notifications
    bootstrap = endpoints.kafka_bootstrap(settings)
    kafka.ensure_topic(bootstrap, cfg.topic, cfg.partitions)
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


class MicroBatch:
    """One micro-batch of the dedupe query (the foreachBatch body), exactly once.

    It receives records already parsed and stripped of re-deliveries by Spark's state
    store (`transforms.first_deliveries`): per-minute increments MERGEd into gold first,
    then rejects (with reasons) and first deliveries -> silver. Every write carries the
    Delta transaction id (app_id, batch_id), and every commit the batch's watermark as
    userMetadata (read back after a restart): see esteira.notifications.io.
    """

    def __init__(self, settings: Settings, tables: io.Tables, app_id: str) -> None:
        self.tables = tables
        self.app_id = app_id
        self.max_lateness = timedelta(days=settings.notifications.max_lateness_days)
        self.rules = transforms.reject_rules(self.max_lateness)
        self.result = StreamResult(quality=QualityReport.from_counts(self.rules, {}))
        self._watermark: tuple[int, datetime | None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="delta-append")

    def __call__(self, records: DataFrame, batch_id: int) -> None:
        parsed = records.persist()  # the stateful plan runs once: stats, rejects, silver
        try:
            self._process(records.sparkSession, parsed, batch_id)
        finally:
            parsed.unpersist()

    def _process(self, session: SparkSession, parsed: DataFrame, batch_id: int) -> None:
        """One collected summary (the pass that also feeds the cache) gives the counts,
        the watermark and gold's increments. Gold is written first and alone, from the
        small collected increments: it is what readers wait for, and sharing the two
        cores with the appends made it finish last. Then silver and rejects append
        from the cache at once. A batch over GOLD_ALONE_UP_TO messages (a backlog: the
        stream is behind anyway) appends silver beside gold instead, which drains it
        sooner. Gold's transaction id is a session setting (a MERGE takes no writer
        options); the appends name theirs as writer options, which take precedence."""
        t, txn = self.tables, Txn(self.app_id, batch_id)
        clock = _Clock()
        now = datetime.now(UTC)
        summary = Summary(transforms.batch_summary(parsed).collect())
        clock.lap("read+parse+dedupe")
        if not summary.rows:
            return
        previous = self._previous_watermark(session, batch_id)
        watermark = max((w for w in (previous, summary.newest) if w), default=None)
        marked = parsed
        if summary.oldest and watermark and summary.oldest < watermark - self.max_lateness:
            marked = transforms.too_late(parsed, watermark, self.max_lateness)
            summary = Summary(transforms.batch_summary(marked).collect())
        meta = json.dumps({"app_id": self.app_id, "batch_id": batch_id,
                           "watermark": watermark.isoformat() if watermark else None})
        # a backlog's big batch: silver's append (the payloads) beside gold, for throughput
        overlap = summary.n_new > GOLD_ALONE_UP_TO
        pending: list[Future] = []
        _pause_for_a_test("before-writes", batch_id, summary)
        try:
            if overlap:
                pending.append(self._pool.submit(self._append_silver, marked, txn, meta))
            if summary.n_new:
                counted = session.createDataFrame(summary.valid, SUMMARY_SCHEMA)
                io.merge_gold(session, transforms.gold_increments(counted, now), t, txn,
                              summary.hours, meta)
                clock.lap("gold")
                _pause_for_a_test("after-gold", batch_id, summary)
                io.merge_rollup(session, transforms.rollup_increments(counted, now), t, txn,
                                summary.hours, meta)
                clock.lap("rollup")
            if summary.reasons:
                bad = self._stamp(transforms.rejects(marked), batch_id)
                pending.append(self._pool.submit(io.append_rejects, bad, t, txn, meta))
            if summary.n_new and not overlap:
                pending.append(self._pool.submit(self._append_silver, marked, txn, meta))
        finally:
            _settle(pending)
        clock.lap("appends")
        _pause_for_a_test("after-writes", batch_id, summary)
        self._watermark = (batch_id, watermark)
        self._count(summary)
        log.info("batch %d: %d new, %d rejected (%s)", batch_id, summary.n_new,
                 sum(summary.reasons.values()), clock)

    def _append_silver(self, marked: DataFrame, txn: Txn, meta: str) -> None:
        valid = self._stamp(transforms.valid_messages(marked), txn.version)
        io.append_silver(valid, self.tables, txn, meta)

    def _stamp(self, df: DataFrame, batch_id: int) -> DataFrame:
        """The writing stream and micro-batch of each row (silver and rejects)."""
        return df.withColumn("app_id", F.lit(self.app_id)).withColumn(
            "batch_id", F.lit(batch_id).cast("long"))

    def _previous_watermark(self, session: SparkSession, batch_id: int) -> datetime | None:
        """From memory when the last batch ran here; else from gold's commit metadata."""
        if self._watermark is not None and self._watermark[0] == batch_id - 1:
            return self._watermark[1]
        return io.previous_watermark(session, self.tables, self.app_id, batch_id)

    def _count(self, summary: Summary) -> None:
        res = self.result
        res.batches += 1
        res.quality = res.quality.merge(summary.quality(self.rules))


class Summary:
    """A collected `transforms.batch_summary`: counts per reject reason, new messages,
    their newest and oldest event time (UTC), the gold hours they touch."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.valid = [r for r in rows if r["reason"] is None]
        self.reasons: dict[str, int] = {}
        for row in rows:
            if row["reason"] is not None:
                self.reasons[row["reason"]] = self.reasons.get(row["reason"], 0) + row["n"]
        self.n_new = sum(r["n"] for r in self.valid)
        self.newest = _utc(max((r["newest_us"] for r in self.valid), default=None))
        self.oldest = _utc(min((r["oldest_us"] for r in self.valid), default=None))
        self.hours = sorted({_utc(r["minute_us"]).strftime("%Y-%m-%d %H") for r in self.valid})

    def quality(self, rules: list[Expectation]) -> QualityReport:
        """The batch's reject reasons counted per rule (each reject breaks exactly one)."""
        per_rule: Counter[str] = Counter()
        for reason, n in self.reasons.items():
            per_rule[transforms.rule_of(reason)] += n
        counts = {rule_column(i): per_rule.get(r.name, 0) for i, r in enumerate(rules)}
        rejected = sum(self.reasons.values())
        return QualityReport.from_counts(
            rules, {"_rows": self.n_new + rejected, "_rejected": rejected, **counts})


def _utc(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Clock:
    """Seconds per step of a micro-batch, for the batch's log line."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps.append((name, now - self.last))
        self.last = now

    def __str__(self) -> str:
        return " ".join(f"{name} {secs:.1f}s" for name, secs in self.laps)


def _settle(pending: list[Future]) -> None:
    """Waits for every submitted write; re-raises the first failure."""
    first: BaseException | None = None
    while pending:
        error = pending.pop(0).exception()
        first = first or error
    if first is not None:
        raise first


# Fault injection for tests/notifications/test_stream_crash.py: with
# ESTEIRA_STREAM_PAUSE_AT="<phase>:<marker file>", the first batch after batch 0 (the
# tables exist by then) holding both new messages and rejects that reaches <phase>
# (before-writes, after-gold, after-writes) writes its id and counts to the marker and
# waits there to be killed: the test's SIGKILL lands exactly at that point of the batch.
PAUSE_AT = "ESTEIRA_STREAM_PAUSE_AT"


def _pause_for_a_test(phase: str, batch_id: int, summary: Summary) -> None:
    wanted = os.environ.get(PAUSE_AT)
    if not wanted or batch_id == 0 or not (summary.n_new and summary.reasons):
        return
    at, _, marker = wanted.partition(":")
    if at != phase:
        return
    written = Path(f"{marker}.tmp")
    written.write_text(json.dumps({"batch_id": batch_id, "new": summary.n_new,
                                   "rejected": sum(summary.reasons.values())}))
    written.replace(marker)
    log.warning("paused at %s of batch %d (%s): waiting to be killed", phase, batch_id, PAUSE_AT)
    while True:
        time.sleep(60)
