"""One micro-batch of the notification stream (the foreachBatch body), exactly once.

Kafka records -> bronze; parsed -> rejects (with reasons) or first deliveries -> silver
-> per-minute increments MERGEd into gold; then one progress row. Every write carries
the Delta transaction id (app_id, batch_id): see esteira.notifications.io.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.notifications import io
from esteira.notifications import transforms as T
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
        self._watermark: tuple[int, datetime | None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="delta-append")

    def __call__(self, kafka: DataFrame, batch_id: int) -> None:
        session = kafka.sparkSession
        now = datetime.now(UTC).replace(tzinfo=None)
        bronze = T.bronze_rows(kafka, batch_id, self.app_id, now).persist()
        pending: list[Future] = []
        try:
            self._process(session, bronze, batch_id, now, pending)
        finally:
            _settle(pending)
            bronze.unpersist()

    def _process(self, session: SparkSession, bronze: DataFrame, batch_id: int,
                 now: datetime, pending: list[Future]) -> None:
        """Appends run in threads (Delta commits mostly wait on I/O); the gold MERGE and
        the progress row wait for them: the MERGE's transaction id is a session setting,
        so no other write may run beside it."""
        t, app = self.tables, self.app_id
        clock = _Clock(batch_id)
        pending.append(self._pool.submit(io.append, bronze, t.bronze, "ingest_date", app,
                                         batch_id))
        parsed = T.parse_messages(bronze).persist()  # parsed once: stats, rejects, silver
        try:
            self._split(session, parsed, batch_id, now, pending, clock)
        finally:
            _settle(pending)
            parsed.unpersist()

    def _split(self, session: SparkSession, parsed: DataFrame, batch_id: int, now: datetime,
               pending: list[Future], clock: _Clock) -> None:
        """Rejects on one side, first deliveries on the other; then the progress row."""
        t, app = self.tables, self.app_id
        by_reason = T.reason_stats(parsed).collect()
        valid_stats = next((r for r in by_reason if r["reason"] is None), None)
        records = sum(r["n"] for r in by_reason)
        if records == 0:
            return
        previous = self._previous_watermark(session, batch_id)
        candidates = [w for w in (previous, valid_stats and valid_stats["newest"]) if w]
        watermark = max(candidates) if candidates else None
        reasons = {r["reason"]: r["n"] for r in by_reason if r["reason"] is not None}
        clock.lap("parse")
        marked = parsed
        if valid_stats and watermark and valid_stats["oldest"] < watermark - self.max_lateness:
            marked = T.too_late(parsed, watermark, self.max_lateness)
            reasons["too late"] = marked.filter(F.col("reason") == "too late").count()
        if reasons:
            pending.append(self._pool.submit(io.append, T.rejects(marked), t.rejects,
                                             "ingest_date", app, batch_id))
        n_new = self._write_new(session, marked, watermark, batch_id, now, clock, pending)
        n_rejected = sum(reasons.values())
        n_dupes = records - n_rejected - n_new
        self._record_progress(session, batch_id, watermark, now,
                              (records, n_new, n_dupes, n_rejected), reasons)
        clock.lap("progress")
        self._watermark = (batch_id, watermark)
        self._count(records, n_new, n_dupes, reasons)
        log.info("batch %d: %d records, %d new, %d re-deliveries, %d rejected (%s)",
                 batch_id, records, n_new, n_dupes, n_rejected, clock)

    def _write_new(self, session: SparkSession, marked: DataFrame, watermark: datetime | None,
                   batch_id: int, now: datetime, clock: _Clock, pending: list[Future]) -> int:
        """Silver gets the first deliveries; gold adds them to their minutes. Returns how many."""
        t, app = self.tables, self.app_id
        silver = io.read_or_none(session, t.silver)
        new = T.dedupe_batch(T.valid_messages(marked))
        if silver is not None:
            seen = T.seen_ids(silver, new, watermark, self.horizon, app, batch_id)
            new = T.drop_seen(new, seen)
        new = new.persist()
        increments = T.count_per_minute(new, now).persist()
        try:
            per_date = increments.groupBy("event_date").agg(
                F.sum("notifications").alias("n")).collect()
            clock.lap("dedupe")
            if per_date:  # nothing new: no commit (an empty write needs no idempotency)
                pending.append(self._pool.submit(io.append, new, t.silver, "event_date", app,
                                                 batch_id))
            _settle(pending)
            clock.lap("appends")
            if per_date:
                io.merge_gold(session, increments, t.gold, app, batch_id,
                              [r["event_date"] for r in per_date])
                clock.lap("gold")
        finally:
            _settle(pending)
            increments.unpersist()
            new.unpersist()
        return sum(r["n"] for r in per_date)

    def _record_progress(self, session: SparkSession, batch_id: int,
                         watermark: datetime | None, started: datetime,
                         counts: tuple[int, int, int, int], reasons: dict[str, int]) -> None:
        """The batch's row in progress: watermark for the next batch, gold commit time."""
        committed = datetime.now(UTC).replace(tzinfo=None)
        progress = session.createDataFrame(
            [(self.app_id, batch_id, watermark, *counts,
              json.dumps(reasons, ensure_ascii=False), started, committed)],
            "app_id string, batch_id long, watermark timestamp, records long, "
            "new_messages long, duplicates long, rejected long, reasons string, "
            "started_at timestamp, gold_committed_at timestamp",
        ).withColumn("day", F.to_date("started_at"))
        io.append(progress, self.tables.progress, "day", self.app_id, batch_id)

    def _previous_watermark(self, session: SparkSession, batch_id: int) -> datetime | None:
        """From memory when the last batch ran here; else from the progress table."""
        if self._watermark is not None and self._watermark[0] == batch_id - 1:
            return self._watermark[1]
        return io.previous_watermark(session, self.tables, self.app_id, batch_id)

    def _count(self, records: int, n_new: int, n_dupes: int, reasons: dict[str, int]) -> None:
        tot = self.totals
        tot.batches += 1
        tot.records += records
        tot.new_messages += n_new
        tot.duplicates += n_dupes
        tot.rejected += sum(reasons.values())
        for reason, n in reasons.items():
            tot.reasons[reason] = tot.reasons.get(reason, 0) + n


class _Clock:
    """Seconds per step of a micro-batch, for the batch's log line."""

    def __init__(self, batch_id: int) -> None:
        self.batch_id = batch_id
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
