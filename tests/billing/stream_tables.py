"""Silver and gold as the notification stream leaves them, written from a list of
messages: the billing and report tests' fixture (their expected figures are computed
by hand in each test, never from these tables)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

SILVER = (
    "message_id string, customer_id long, customer_name string, channel string, "
    "payload string, event_datetime timestamp, event_date date, kafka_partition int, "
    "kafka_offset long, kafka_timestamp timestamp, ingested_at timestamp"
)
GOLD = (
    "customer_id long, customer_name string, channel string, minute timestamp, "
    "notifications long, event_date date, event_hour int, updated_at timestamp"
)
Message = tuple[int, str, str, str, str, datetime]  # id, name, channel, msg id, payload, ts


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def write_stream(
    spark: SparkSession, root: Path, messages: list[Message], gold_extra: int = 0
) -> None:
    """Overwrites root/silver and root/gold with these messages (gold: per-minute
    counts; `gold_extra` adds that many to gold's first row, a silver/gold mismatch)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    silver = [
        (mid, cid, name, channel, payload, ts, ts.date(), 0, i, now, now)
        for i, (cid, name, channel, mid, payload, ts) in enumerate(messages)
    ]
    minutes = Counter(
        (cid, name, channel, ts.replace(second=0, microsecond=0))
        for cid, name, channel, _, _, ts in messages
    )
    gold = [
        (cid, name, channel, minute, n, minute.date(), minute.hour, now)
        for (cid, name, channel, minute), n in sorted(minutes.items())
    ]
    if gold_extra and gold:
        gold[0] = (*gold[0][:4], gold[0][4] + gold_extra, *gold[0][5:])
    for name, rows, schema, parts in (
        ("silver", silver, SILVER, ["event_date"]),
        ("gold", gold, GOLD, ["event_date", "event_hour"]),
    ):
        (
            spark.createDataFrame(rows, schema)
            .write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .partitionBy(*parts)
            .save(str(root / name))
        )


def write_stream_frame(root: Path, silver: DataFrame) -> None:
    """Overwrites root/silver with `silver` (SILVER's columns, built in the engine: a big
    fixture without a Python list) and root/gold with its per-minute counts."""
    minute = F.date_trunc("minute", "event_datetime")
    gold = (
        silver.groupBy("customer_id", "customer_name", "channel", minute.alias("minute"))
        .agg(F.count(F.lit(1)).alias("notifications"))
        .select(
            "*",
            F.to_date("minute").alias("event_date"),
            F.hour("minute").alias("event_hour"),
            F.current_timestamp().alias("updated_at"),
        )
    )
    for name, frame, parts in (
        ("silver", silver, ["event_date"]),
        ("gold", gold, ["event_date", "event_hour"]),
    ):
        (
            frame.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .partitionBy(*parts)
            .save(str(root / name))
        )
