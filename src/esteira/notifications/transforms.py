"""Pure DataFrame steps of the notification stream (no I/O, no session, no collect).

One micro-batch goes: Kafka records -> `bronze_rows` -> `parse_messages` (typed columns
plus `reason`, NULL when the record is a valid message) -> `too_late` -> valid rows
`dedupe_batch` (one row per message_id) -> `drop_seen` (message_ids silver already holds
within the dedupe horizon) -> `count_per_minute` -> gold increments.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

FIELDS = ("customer_id", "message_id", "customer_name", "channel", "payload", "event_datetime")
GOLD_KEYS = ("customer_id", "customer_name", "channel", "minute")
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
_CUSTOMER_ID = r"^[0-9]{1,18}$"  # fits a BIGINT
_STRUCT = ", ".join(f"{name} string" for name in FIELDS)  # numbers and objects come as text


def bronze_rows(kafka: DataFrame, batch_id: int, app_id: str, ingested_at: datetime) -> DataFrame:
    """Every Kafka record as received, plus when and in which micro-batch it was read."""
    return kafka.select(
        "key", "value", "topic", "partition", "offset",
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("timestampType").alias("kafka_timestamp_type"),
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
        F.to_date(F.lit(ingested_at).cast("timestamp")).alias("ingest_date"),
        F.lit(app_id).alias("app_id"),
        F.lit(batch_id).cast("long").alias("batch_id"),
    )


def _field(fields: Column, name: str) -> Column:
    return fields.getItem(name)


def _reject_reason(fields: Column, event_ts: Column, max_ahead: timedelta) -> Column:
    """The first rule a record breaks, in a fixed order; NULL for a valid message."""
    reason = F.when(fields.isNull(), F.lit("not JSON"))
    for name in FIELDS:
        value = _field(fields, name)
        missing = value.isNull() | (F.trim(value) == "")
        reason = reason.when(missing, F.lit(f"missing field: {name}"))
    reason = reason.when(
        ~_field(fields, "customer_id").rlike(_CUSTOMER_ID), F.lit("wrong type: customer_id")
    ).when(
        ~_field(fields, "event_datetime").rlike(_ISO_DATETIME) | event_ts.isNull(),
        F.lit("wrong type: event_datetime"),
    ).when(
        # a clock years ahead would drag the watermark along and make everything "too late"
        event_ts > F.col("kafka_timestamp") + F.expr(f"INTERVAL {int(max_ahead.total_seconds())}"
                                                      " SECONDS"),
        F.lit("in the future: event_datetime"),
    )
    return reason


def parse_messages(bronze: DataFrame, max_ahead: timedelta = timedelta(days=1)) -> DataFrame:
    """Bronze rows -> typed message columns plus `reason` (NULL = valid) and `raw_value`.

    Bytes that are not UTF-8 are kept readable (replacement characters) in raw_value;
    bronze keeps the exact bytes. Every field is read as text, so that a missing field, a
    field of the wrong type and text that is not a JSON object are told apart;
    event_datetime becomes a UTC timestamp (session time zone UTC; offsets honoured). An
    event time more than `max_ahead` after the broker's LogAppendTime is rejected.
    """
    raw = F.make_valid_utf8(F.col("value").cast("string"))  # bytes that are not UTF-8 -> U+FFFD
    parsed = bronze.select(
        "*", raw.alias("raw_value"), F.from_json(raw, _STRUCT).alias("_fields"),
    ).withColumn("_ts", F.try_to_timestamp(_field(F.col("_fields"), "event_datetime")))
    # The struct is the fast path (fields by position); it cannot tell text that is not a
    # JSON object from an object without fields, so only records that break a rule are
    # parsed again as a map. reason becomes a column first, so that its rules run once
    # per record, not once per output column.
    fast = _reject_reason(F.col("_fields"), F.col("_ts"), max_ahead)
    parsed = parsed.withColumn(
        "_reason",
        F.when(fast.isNull(), F.lit(None).cast("string"))
        .when(F.from_json(F.col("raw_value"), "map<string,string>").isNull(), F.lit("not JSON"))
        .otherwise(fast),
    )
    reason = F.col("_reason")
    valid = reason.isNull()
    return parsed.select(
        "raw_value", "topic", "partition", "offset", "kafka_timestamp", "ingested_at",
        "app_id", "batch_id",
        F.when(valid, _field(F.col("_fields"), "customer_id").cast("long")).alias("customer_id"),
        *[
            F.when(valid, _field(F.col("_fields"), name)).alias(name)
            for name in ("message_id", "customer_name", "channel", "payload")
        ],
        F.when(valid, F.col("_ts")).alias("event_datetime"),
        reason.alias("reason"),
    )


def too_late(parsed: DataFrame, watermark: datetime | None, max_lateness: timedelta) -> DataFrame:
    """Marks valid messages older than `watermark - max_lateness` with reason "too late".

    The watermark is the newest event time the stream has accepted (35 days by default:
    later than that a message is not counted, issue 6 rule 3).
    """
    if watermark is None:
        return parsed
    limit = F.lit(watermark - max_lateness).cast("timestamp")
    late = F.col("reason").isNull() & (F.col("event_datetime") < limit)
    return parsed.withColumn("reason", F.when(late, F.lit("too late")).otherwise(F.col("reason")))


def rejects(parsed: DataFrame) -> DataFrame:
    """Records that are not countable messages: the raw value and why."""
    return parsed.filter(F.col("reason").isNotNull()).select(
        "raw_value", "reason", "topic", "partition", "offset", "kafka_timestamp",
        "ingested_at", F.to_date("ingested_at").alias("ingest_date"), "app_id", "batch_id",
    )


def valid_messages(parsed: DataFrame) -> DataFrame:
    """Typed messages, with event_date (silver's partition column)."""
    return parsed.filter(F.col("reason").isNull()).select(
        "message_id", "customer_id", "customer_name", "channel", "payload", "event_datetime",
        F.to_date("event_datetime").alias("event_date"),
        F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset"),
        "kafka_timestamp", "ingested_at", "app_id", "batch_id",
    )


def dedupe_batch(messages: DataFrame) -> DataFrame:
    """One row per message_id: the first delivery (lowest partition, then offset)."""
    first = Window.partitionBy("message_id").orderBy("kafka_partition", "kafka_offset")
    return (
        messages.withColumn("_n", F.row_number().over(first))
        .filter(F.col("_n") == 1)
        .drop("_n")
    )


def seen_ids(
    silver: DataFrame, candidates: DataFrame, watermark: datetime | None, horizon: timedelta,
    app_id: str, batch_id: int,
) -> DataFrame:
    """The candidates' message_ids that silver already holds within the dedupe horizon,
    from EARLIER micro-batches only.

    Rows this very batch wrote before a crash are left out, so a replayed batch finds
    exactly what its first attempt found: replays compute the same increments. The
    batch's ids are broadcast, so silver is scanned once (only message_id, event_date and
    event_datetime are read) and never shuffled.
    """
    earlier = ~((F.col("app_id") == app_id) & (F.col("batch_id") >= batch_id))
    if watermark is not None:
        start = watermark - horizon
        earlier = earlier & (F.col("event_date") >= F.lit(start.date())) & (
            F.col("event_datetime") >= F.lit(start).cast("timestamp")
        )
    ids = F.broadcast(candidates.select("message_id"))
    return silver.filter(earlier).select("message_id").join(ids, "message_id", "left_semi")


def drop_seen(messages: DataFrame, seen: DataFrame) -> DataFrame:
    """Messages whose message_id is not already counted (re-deliveries go away)."""
    return messages.join(F.broadcast(seen.distinct()), on="message_id", how="left_anti")


def count_per_minute(new_messages: DataFrame, updated_at: datetime) -> DataFrame:
    """Gold increments: messages per customer, channel and event-time minute."""
    return (
        new_messages.withColumn("minute", F.date_trunc("minute", "event_datetime"))
        .groupBy(*GOLD_KEYS)
        .agg(F.count(F.lit(1)).alias("notifications"))
        .withColumn("event_date", F.to_date("minute"))
        .withColumn("updated_at", F.lit(updated_at).cast("timestamp"))
    )


def batch_watermark(messages: DataFrame) -> DataFrame:
    """One row: the newest event time among a batch's valid messages."""
    return messages.agg(F.max("event_datetime").alias("max_event_datetime"))


def usage_per_customer(gold: DataFrame) -> DataFrame:
    """Notifications per customer and channel with the last update (the seed's panel)."""
    return (
        gold.groupBy("customer_id", "customer_name", "channel")
        .agg(F.sum("notifications").alias("notifications"),
             F.max("updated_at").alias("updated_at"))
        .orderBy(F.col("notifications").desc(), "customer_id", "channel")
    )


def reason_stats(parsed: DataFrame) -> DataFrame:
    """Rows per reason (NULL = valid) with the newest and oldest event time of each."""
    return parsed.groupBy("reason").agg(
        F.count(F.lit(1)).alias("n"),
        F.max("event_datetime").alias("newest"),
        F.min("event_datetime").alias("oldest"),
    )
