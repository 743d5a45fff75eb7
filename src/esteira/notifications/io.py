"""Reads and writes of the notification stream: the Kafka topic and five Delta tables.

Layout under `notifications.root` (default <home>/notifications):
  bronze/    every Kafka record as received, append only (partition: ingest_date)
  rejects/   records that are not countable messages: raw value + reason (ingest_date)
  silver/    typed messages, one row per message_id within the horizon (event_date)
  gold/      notifications per customer, channel and minute + updated_at (event_date,
             event_hour)
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

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from esteira.errors import InputError, ServiceError
from esteira.notifications.config import NotificationsSettings

log = logging.getLogger(__name__)
TXN_APP = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
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
    def rejects(self) -> str:
        return str(self.root / "rejects")

    @property
    def checkpoint(self) -> str:
        return str(self.root / "checkpoint")

    @property
    def bronze_checkpoint(self) -> str:
        return str(self.root / "checkpoint_bronze")

    def app_id(self) -> str:
        """A stable id per checkpoint: a new checkpoint restarts batch ids, so a new id."""
        checkpoint = Path(self.checkpoint)
        marker = checkpoint / "esteira_app_id"
        if not marker.is_file():
            checkpoint.mkdir(parents=True, exist_ok=True)
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(f"esteira-notifications-{uuid.uuid4().hex}", encoding="utf-8")
            tmp.replace(marker)
        return marker.read_text(encoding="utf-8").strip()


def tables(settings_section: NotificationsSettings, home: Path) -> Tables:
    return Tables(settings_section.folder(home).resolve())


def exists(path: str) -> bool:
    """A Delta table with at least one commit (a crash can leave an empty _delta_log)."""
    log_dir = Path(path) / "_delta_log"
    return log_dir.is_dir() and next(log_dir.glob("*.json"), None) is not None


def read_kafka(session: SparkSession, bootstrap: str, cfg: NotificationsSettings) -> DataFrame:
    """The topic as a stream; starting offsets and batch cap come from config."""
    reader = (
        session.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", cfg.topic)
        .option("startingOffsets", cfg.starting_offsets)
        .option("includeHeaders", "false")
    )
    if cfg.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(cfg.max_offsets_per_trigger))
    return reader.load()


def write_bronze(kafka_rows: DataFrame, t: Tables, trigger_seconds: float):
    """The bronze query: every record, straight into Delta's streaming sink (exactly once
    through its own checkpoint and Delta's txn ids; no parsing, one commit per batch)."""
    writer = (
        kafka_rows.writeStream.format("delta").queryName("notifications-bronze")
        .outputMode("append").partitionBy("ingest_date")
        .option("checkpointLocation", t.bronze_checkpoint)
    )
    if trigger_seconds > 0:
        writer = writer.trigger(processingTime=f"{trigger_seconds} seconds")
    return writer.start(t.bronze)


def append(df: DataFrame, path: str, partition: str | list[str], app_id: str, batch_id: int,
           metadata: str | None = None) -> None:
    """Idempotent append: Delta skips it when (app_id, batch_id) is already committed."""
    columns = [partition] if isinstance(partition, str) else partition
    writer = (
        df.write.format("delta").mode("append").partitionBy(*columns)
        .option("txnAppId", app_id).option("txnVersion", str(batch_id))
    )
    if metadata is not None:
        writer = writer.option("userMetadata", metadata)
    writer.save(path)


def merge_gold(session: SparkSession, increments: DataFrame, path: str, app_id: str,
               batch_id: int, hours: list[str], metadata: str | None = None) -> None:
    """Adds a batch's per-minute counts to gold in one idempotent MERGE.

    Gold is partitioned by event date and hour, and the ON clause names the
    ("yyyy-MM-dd HH") hours the batch touches: Delta reads and rewrites only those
    partitions (the current hour's and the few of late events). A MERGE rewrites every
    row of the files it touches, so with date partitions alone the file holding the
    current minute held the whole day so far and each batch copied it; by hour, a batch
    copies at most the hour so far (customers x 60 rows). Minute partitions would copy
    less but write a file per late minute, which cost more at the benchmark's 0.1% late.
    The SQL-conf transaction id makes a replayed MERGE a no-op.
    """
    if not exists(path):
        append(increments, path, GOLD_PARTITIONS, app_id, batch_id, metadata)
        return
    from delta.tables import DeltaTable

    target = DeltaTable.forPath(session, path)
    if path not in _LAYOUT_CHECKED:  # once per process: gold of an earlier layout
        partitions = list(target.detail().first()["partitionColumns"])
        if partitions != GOLD_PARTITIONS:
            raise InputError(path, f"gold is partitioned by {partitions}, this version "
                             f"writes {GOLD_PARTITIONS}: move the notifications folder away "
                             "(tables and checkpoint) and stream the topic again")
        _LAYOUT_CHECKED.add(path)
    touched = " OR ".join(
        f"(t.event_date = DATE'{hour[:10]}' AND t.event_hour = {int(hour[11:13])})"
        for hour in hours) or "FALSE"
    condition = (
        f"({touched}) AND t.event_date = s.event_date AND t.event_hour = s.event_hour "
        "AND t.customer_id = s.customer_id AND t.customer_name = s.customer_name "
        "AND t.channel = s.channel AND t.minute = s.minute"
    )
    session.conf.set(TXN_APP, app_id)
    session.conf.set(TXN_VERSION, str(batch_id))
    if metadata is not None:
        session.conf.set(USER_METADATA, metadata)
    try:
        (
            target.alias("t")
            .merge(increments.alias("s"), condition)
            .whenMatchedUpdate(set={
                "notifications": "t.notifications + s.notifications",
                "updated_at": "s.updated_at",
            })
            .whenNotMatchedInsertAll()
            .execute()
        )
    finally:
        session.conf.unset(TXN_APP)
        session.conf.unset(TXN_VERSION)
        session.conf.unset(USER_METADATA)


def read_or_none(session: SparkSession, path: str) -> DataFrame | None:
    return session.read.format("delta").load(path) if exists(path) else None


def previous_watermark(session: SparkSession, t: Tables, app_id: str,
                       batch_id: int) -> datetime | None:
    """Newest accepted event time after every batch BEFORE this one (replays agree),
    from the userMetadata of gold's commits (only a batch with new messages moves it).
    Read once after a (re)start; later batches keep it in memory."""
    if not exists(t.gold):
        return None
    from delta.tables import DeltaTable

    best: datetime | None = None
    for row in DeltaTable.forPath(session, t.gold).history().select("userMetadata").collect():
        try:
            meta = json.loads(row["userMetadata"] or "")
        except ValueError:
            continue
        if meta.get("app_id") != app_id or meta.get("batch_id", batch_id) >= batch_id:
            continue
        if meta.get("watermark"):
            mark = datetime.fromisoformat(meta["watermark"])
            mark = mark if mark.tzinfo else mark.replace(tzinfo=UTC)  # written before 11/2026
            best = mark if best is None else max(best, mark)
    return best


def ensure_topic(bootstrap: str, cfg: NotificationsSettings) -> None:
    """Creates the topic (LogAppendTime, `partitions`) unless it exists with that count."""
    from esteira.connectors import kafka as kafka_io

    try:
        kafka_io.admin(bootstrap).list_topics(timeout=15)
    except Exception as exc:
        raise ServiceError(
            f"Kafka at {bootstrap} does not answer ({exc.__class__.__name__}); "
            "start it with `esteira services up`"
        ) from None
    kafka_io.create_topic(bootstrap, cfg.topic, cfg.partitions)


def producer(bootstrap: str):
    """An idempotent producer tuned for throughput (librdkafka retries add no duplicates)."""
    from esteira.connectors import kafka as kafka_io

    return kafka_io.producer(
        bootstrap, acks="all", **{"linger.ms": 20, "batch.num.messages": 10000,
                                  "queue.buffering.max.messages": 500000,
                                  "compression.type": "lz4"},
    )
