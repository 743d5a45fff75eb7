"""One micro-batch of the notification stream's dedupe query (its foreachBatch body).

Split from esteira.notifications.job (which starts and watches the queries) so that
each module stays one concern: here the batch's summary, its writes to gold, the rollup,
silver and rejects with the batch's Delta transaction id, and the fault-injection
point the crash tests use. See esteira.notifications.io for why a SIGKILL at any moment
loses nothing and counts nothing twice.
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

from esteira.connectors.delta import Txn
from esteira.notifications import io, transforms
from esteira.notifications.schemas import SUMMARY_SCHEMA
from esteira.quality import Expectation, QualityReport, rule_column
from esteira.settings import Settings

log = logging.getLogger(__name__)
# At 5,000 msg/s a caught-up batch holds about 40,000 messages; at 20,000 about 500,000.
GOLD_ALONE_UP_TO = 150_000


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
