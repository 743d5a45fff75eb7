"""One micro-batch of the deduplicating query (the foreachBatch body), exactly once.

It receives records already parsed and stripped of re-deliveries by Spark's state store
(`transforms.first_deliveries`): rejects (with reasons) and first deliveries -> silver,
per-minute increments MERGEd into gold. Every write carries the Delta transaction id
(app_id, batch_id), and every commit the batch's watermark as userMetadata (read back
after a restart): see esteira.notifications.io.
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
        """Stats first (one pass that also feeds the cache), then the three writes at once:
        the appends in threads, the gold MERGE here (its transaction id is a session
        setting; the appends name theirs as writer options, which take precedence)."""
        t, app = self.tables, self.app_id
        clock = _Clock()
        now = datetime.now(UTC).replace(tzinfo=None)
        by_reason = T.reason_stats(parsed).collect()
        clock.lap("read+parse+dedupe")
        if not by_reason:
            return
        valid_stats = next((r for r in by_reason if r["reason"] is None), None)
        previous = self._previous_watermark(session, batch_id)
        candidates = [w for w in (previous, valid_stats and valid_stats["newest"]) if w]
        watermark = max(candidates) if candidates else None
        reasons = {r["reason"]: r["n"] for r in by_reason if r["reason"] is not None}
        n_new = valid_stats["n"] if valid_stats else 0
        marked = parsed
        if valid_stats and watermark and valid_stats["oldest"] < watermark - self.max_lateness:
            marked = T.too_late(parsed, watermark, self.max_lateness)
            reasons["too late"] = marked.filter(F.col("reason") == "too late").count()
            n_new -= reasons["too late"]
        meta = json.dumps({"app_id": app, "batch_id": batch_id,
                           "watermark": watermark.isoformat() if watermark else None})
        pending: list[Future] = []
        try:
            if reasons:
                bad = self._stamp(T.rejects(marked), batch_id)
                pending.append(self._pool.submit(io.append, bad, t.rejects, "ingest_date", app,
                                                 batch_id, meta))
            if n_new:
                valid = T.valid_messages(marked)
                pending.append(self._pool.submit(io.append, self._stamp(valid, batch_id),
                                                 t.silver, "event_date", app, batch_id, meta))
                increments = T.count_per_minute(valid, now)
                io.merge_gold(session, increments, t.gold, app, batch_id,
                              list(valid_stats["hours"]), meta)
                clock.lap("gold")
        finally:
            _settle(pending)
        clock.lap("appends")
        self._watermark = (batch_id, watermark)
        n_rejected = sum(reasons.values())
        self._count(n_new, reasons)
        log.info("batch %d: %d new, %d rejected (%s)", batch_id, n_new, n_rejected, clock)

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
