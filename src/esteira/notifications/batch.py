"""One micro-batch of the deduplicating query (the foreachBatch body), exactly once.

It receives records already parsed and stripped of re-deliveries by Spark's state store
(`transforms.first_deliveries`): per-minute increments MERGEd into gold first, then
rejects (with reasons) and first deliveries -> silver. Every write carries the Delta
transaction id (app_id, batch_id), and every commit the batch's watermark as
userMetadata (read back after a restart): see esteira.notifications.io.
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
# At 5,000 msg/s a caught-up batch holds about 40,000 messages; at 20,000 about 500,000.
GOLD_ALONE_UP_TO = 150_000


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
        self.max_lateness = timedelta(days=cfg.max_lateness_days)
        self.totals = StreamTotals()
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
        sooner. Gold's transaction id is a session setting; the appends name theirs as
        writer options, which take precedence."""
        t, app = self.tables, self.app_id
        clock = _Clock()
        now = datetime.now(UTC)
        summary = Summary(T.batch_summary(parsed).collect())
        clock.lap("read+parse+dedupe")
        if not summary.rows:
            return
        previous = self._previous_watermark(session, batch_id)
        watermark = max((w for w in (previous, summary.newest) if w), default=None)
        marked = parsed
        if summary.oldest and watermark and summary.oldest < watermark - self.max_lateness:
            marked = T.too_late(parsed, watermark, self.max_lateness)
            summary = Summary(T.batch_summary(marked).collect())
        meta = json.dumps({"app_id": app, "batch_id": batch_id,
                           "watermark": watermark.isoformat() if watermark else None})
        # a backlog's big batch: silver's append (the payloads) beside gold, for throughput
        overlap = summary.n_new > GOLD_ALONE_UP_TO
        pending: list[Future] = []
        try:
            if overlap:
                pending.append(self._pool.submit(self._append_silver, marked, batch_id, meta))
            if summary.n_new:
                counted = session.createDataFrame(summary.valid, T.SUMMARY_SCHEMA)
                io.merge_gold(session, T.gold_increments(counted, now), t.gold, app, batch_id,
                              summary.hours, meta)
                clock.lap("gold")
            if summary.reasons:
                bad = self._stamp(T.rejects(marked), batch_id)
                pending.append(self._pool.submit(io.append, bad, t.rejects, "ingest_date", app,
                                                 batch_id, meta))
            if summary.n_new and not overlap:
                pending.append(self._pool.submit(self._append_silver, marked, batch_id, meta))
        finally:
            _settle(pending)
        clock.lap("appends")
        self._watermark = (batch_id, watermark)
        self._count(summary.n_new, summary.reasons)
        log.info("batch %d: %d new, %d rejected (%s)", batch_id, summary.n_new,
                 sum(summary.reasons.values()), clock)

    def _append_silver(self, marked: DataFrame, batch_id: int, meta: str) -> None:
        valid = self._stamp(T.valid_messages(marked), batch_id)
        io.append(valid, self.tables.silver, "event_date", self.app_id, batch_id, meta)

    def _stamp(self, df: DataFrame, batch_id: int) -> DataFrame:
        """The writing stream and micro-batch of each row (silver and rejects)."""
        return df.withColumn("app_id", F.lit(self.app_id)).withColumn(
            "batch_id", F.lit(batch_id).cast("long"))

    def _previous_watermark(self, session: SparkSession, batch_id: int) -> datetime | None:
        """From memory when the last batch ran here; else from gold's commit metadata."""
        if self._watermark is not None and self._watermark[0] == batch_id - 1:
            return self._watermark[1]
        return io.previous_watermark(session, self.tables, self.app_id, batch_id)

    def _count(self, n_new: int, reasons: dict[str, int]) -> None:
        tot = self.totals
        tot.batches += 1
        tot.new_messages += n_new
        tot.rejected += sum(reasons.values())
        for reason, n in reasons.items():
            tot.reasons[reason] = tot.reasons.get(reason, 0) + n


class Summary:
    """A collected `transforms.batch_summary`: counts per reject reason, new messages,
    their newest and oldest event time (UTC), the gold hours they touch."""

    def __init__(self, rows: list) -> None:
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
