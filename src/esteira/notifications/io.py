"""Reads and writes of the notification stream: the Kafka topic and five Delta tables.

Layout under `notifications.root` (default <home>/notifications):
  bronze/    every Kafka record as received, append only (partition: ingest_date)
  rejects/   records that are not countable messages: raw value + reason (ingest_date)
  silver/    typed messages, one row per message_id within the horizon (event_date)
  gold/      notifications per customer, channel and minute + updated_at (event_date,
             event_hour)
  rollup/    gold per customer, channel and hour, with the newest minute and its count
             (event_date, event_hour): what the dashboard's views over all customers read
  checkpoint/         the deduplicating query: offsets, commits, dedupe state (RocksDB);
                      esteira_app_id: this stream's Delta txnAppId
  checkpoint_bronze/  the bronze query (Kafka -> Delta sink, exactly once by itself)

Exactly-once: every write of micro-batch N to silver, rejects and gold carries the
Delta transaction id (txnAppId = app_id, txnVersion = N). A batch replayed after a
crash reads the same offsets against the same state version, finds its earlier writes
already committed and Delta skips them; a write the crash cut short was never
committed, so it happens now. Each commit also carries {app_id, batch_id, watermark} as
userMetadata: the too-late rule's watermark survives a restart without a table of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from esteira.connectors import delta, kafka
from esteira.connectors.delta import Txn
from esteira.errors import InputError
from esteira.notifications.config import NotificationsSettings

SILVER_PARTITIONS = ["event_date"]
REJECTS_PARTITIONS = ["ingest_date"]
GOLD_PARTITIONS = ["event_date", "event_hour"]
_LAYOUT_CHECKED: set[str] = set()


@dataclass(frozen=True)
class Tables:
    root: Path

    @property
    def bronze(self) -> str:
        return str(self.root / "bronze")

    @property
    def silver(self) -> str:
        return str(self.root / "silver")

    @property
    def gold(self) -> str:
        return str(self.root / "gold")

    @property
    def rollup(self) -> str:
        return str(self.root / "rollup")

    @property
    def rejects(self) -> str:
        return str(self.root / "rejects")

    @property
    def checkpoint(self) -> str:
        return str(self.root / "checkpoint")

    @property
    def bronze_checkpoint(self) -> str:
        return str(self.root / "checkpoint_bronze")

    def app_id(self) -> str:
        """This stream's txnAppId, kept in its checkpoint (a new checkpoint, a new id)."""
        return delta.stable_app_id(self.checkpoint, "esteira-notifications")


def tables(settings_section: NotificationsSettings, home: Path) -> Tables:
    return Tables(settings_section.folder(home).resolve())


def read_topic(session: SparkSession, bootstrap: str, cfg: NotificationsSettings) -> DataFrame:
    """The topic as a stream; starting offsets and batch cap come from config."""
    return kafka.read_stream(session, bootstrap, cfg.topic, cfg.starting_offsets,
                             cfg.max_offsets_per_trigger)


def write_bronze(kafka_rows: DataFrame, t: Tables, trigger_seconds: float):
    """The bronze query: every record, straight into Delta's streaming sink (exactly once
    through its own checkpoint and Delta's txn ids; no parsing, one commit per batch)."""
    writer = (
        kafka_rows.writeStream.format("delta").queryName("notifications-bronze")
        .outputMode("append").partitionBy("ingest_date")
        .option("checkpointLocation", t.bronze_checkpoint)
    )
    return _trigger(writer, trigger_seconds).start(t.bronze)


def write_batches(records: DataFrame, body: Callable[[DataFrame, int], None], t: Tables,
                  trigger_seconds: float):
    """The counting query: each micro-batch of `records` goes to `body(df, batch_id)`."""
    writer = (
        records.writeStream.queryName("notifications").foreachBatch(body)
        .option("checkpointLocation", t.checkpoint)
    )
    return _trigger(writer, trigger_seconds).start()


def _trigger(writer, seconds: float):
    """A micro-batch every `seconds`; 0 = back to back (Spark's default)."""
    return writer.trigger(processingTime=f"{seconds} seconds") if seconds > 0 else writer


def append_silver(valid: DataFrame, t: Tables, txn: Txn, metadata: str) -> None:
    delta.append(valid, t.silver, SILVER_PARTITIONS, txn, metadata)


def append_rejects(bad: DataFrame, t: Tables, txn: Txn, metadata: str) -> None:
    delta.append(bad, t.rejects, REJECTS_PARTITIONS, txn, metadata)


def merge_gold(session: SparkSession, increments: DataFrame, t: Tables, txn: Txn,
               hours: list[str], metadata: str) -> None:
    """Adds a batch's per-minute counts to gold in one idempotent MERGE.

    Gold is partitioned by event date and hour, and the ON clause names the
    ("yyyy-MM-dd HH") hours the batch touches: Delta reads and rewrites only those
    partitions (the current hour's and the few of late events). A MERGE rewrites every
    row of the files it touches, so with date partitions alone the file holding the
    current minute held the whole day so far and each batch copied it; by hour, a batch
    copies at most the hour so far (customers x 60 rows). Minute partitions would copy
    less but write a file per late minute, which cost more at the benchmark's 0.1% late.
    The transaction id makes a replayed MERGE a no-op.
    """
    path = t.gold
    if not delta.exists(path):
        delta.append(increments, path, GOLD_PARTITIONS, txn, metadata)
        return
    if path not in _LAYOUT_CHECKED:  # once per process: gold of an earlier layout
        partitions = delta.partition_columns(session, path)
        if partitions != GOLD_PARTITIONS:
            raise InputError(path, f"gold is partitioned by {partitions}, this version "
                             f"writes {GOLD_PARTITIONS}: move the notifications folder away "
                             "(tables and checkpoint) and stream the topic again")
        _LAYOUT_CHECKED.add(path)
    condition = (
        f"({_touched(hours)}) AND t.event_date = s.event_date AND t.event_hour = s.event_hour "
        "AND t.customer_id = s.customer_id AND t.customer_name = s.customer_name "
        "AND t.channel = s.channel AND t.minute = s.minute"
    )
    delta.merge(session, path, increments, condition,
                update={"notifications": "t.notifications + s.notifications",
                        "updated_at": "s.updated_at"},
                txn=txn, metadata=metadata)


def _touched(hours: list[str]) -> str:
    """The target's partitions a batch touches, for the MERGE's ON clause (pruning)."""
    return " OR ".join(
        f"(t.event_date = DATE'{hour[:10]}' AND t.event_hour = {int(hour[11:13])})"
        for hour in hours) or "FALSE"


def merge_rollup(session: SparkSession, increments: DataFrame, t: Tables, txn: Txn,
                 hours: list[str], metadata: str) -> None:
    """Adds a batch's per-hour increments to the rollup: one MERGE with gold's
    transaction id, so a replayed batch counts once here too. The newest minute moves
    forward only; its count adds up when the batch counted that same minute again."""
    if not delta.exists(t.rollup):
        delta.append(increments, t.rollup, GOLD_PARTITIONS, txn, metadata)
        return
    condition = (
        f"({_touched(hours)}) AND t.event_date = s.event_date AND t.event_hour = s.event_hour "
        "AND t.customer_id = s.customer_id AND t.customer_name = s.customer_name "
        "AND t.channel = s.channel"
    )
    delta.merge(session, t.rollup, increments, condition, update={
        "notifications": "t.notifications + s.notifications",
        "last_minute_notifications": (
            "CASE WHEN s.last_minute > t.last_minute THEN s.last_minute_notifications "
            "WHEN s.last_minute = t.last_minute "
            "THEN t.last_minute_notifications + s.last_minute_notifications "
            "ELSE t.last_minute_notifications END"),
        "last_minute": "greatest(t.last_minute, s.last_minute)",
        "updated_at": "greatest(t.updated_at, s.updated_at)",
    }, txn=txn, metadata=metadata)


def build_missing_rollup(session: SparkSession, t: Tables, app_id: str,
                         rollup_of_gold: Callable[[DataFrame], DataFrame]) -> bool:
    """Before the stream starts: a gold without a rollup (written before the rollup
    existed) gets one rebuilt from it. The write carries this stream's last batch id
    found in gold's commits, so a replay of that batch adds nothing to the rollup
    (it is in gold already, hence in the rebuilt rollup)."""
    if delta.exists(t.rollup) or not delta.exists(t.gold):
        return False
    batches = [m["batch_id"] for m in delta.commit_metadata(session, t.gold)
               if m.get("app_id") == app_id and isinstance(m.get("batch_id"), int)]
    txn = Txn(app_id, max(batches)) if batches else None
    delta.write(rollup_of_gold(delta.read(session, t.gold)), t.rollup,
                partition_by=GOLD_PARTITIONS, txn=txn)
    return True


def read_gold(session: SparkSession, t: Tables) -> DataFrame:
    gold = delta.read_or_none(session, t.gold)
    if gold is None:
        raise InputError(t.gold, "no gold table yet: run `esteira notifications stream` first")
    return gold


def previous_watermark(session: SparkSession, t: Tables, app_id: str,
                       batch_id: int) -> datetime | None:
    """Newest accepted event time after every batch BEFORE this one (replays agree),
    from the userMetadata of gold's commits (only a batch with new messages moves it).
    Read once after a (re)start; later batches keep it in memory."""
    best: datetime | None = None
    for meta in delta.commit_metadata(session, t.gold):
        if meta.get("app_id") != app_id or meta.get("batch_id", batch_id) >= batch_id:
            continue
        if meta.get("watermark"):
            mark = datetime.fromisoformat(meta["watermark"])
            mark = mark if mark.tzinfo else mark.replace(tzinfo=UTC)  # written before 11/2026
            best = mark if best is None else max(best, mark)
    return best
