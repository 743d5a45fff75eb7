"""Pure DataFrame steps of the notification stream (no I/O, no session, no collect).

The stream goes: Kafka records -> `bronze_rows` -> `parse_messages` (typed columns plus
`reason`, NULL when the record is a valid message) -> `first_deliveries` (Spark's state
store drops a message_id seen within the horizon of arrival time) -> then, per
micro-batch, `batch_summary` (collected) -> `too_late` -> `valid_messages` / `rejects`,
and `gold_increments` -> gold.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from esteira.notifications.schemas import FIELDS
from esteira.quality import Expectation

# Reject reasons (rejects.reason; the field, if any, follows a colon)
NOT_JSON = "not JSON"
MISSING_FIELD = "missing field"
WRONG_TYPE = "wrong type"
IN_THE_FUTURE = "in the future"
TOO_LATE = "too late"
MAX_AHEAD = timedelta(days=1)
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
_CUSTOMER_ID = r"^[0-9]{1,18}$"  # fits a BIGINT
_STRUCT = ", ".join(f"{name} string" for name in FIELDS)  # numbers and objects come as text


def bronze_rows(kafka: DataFrame, ingested_at: datetime | None = None) -> DataFrame:
    """Every Kafka record as received, plus when it was read (in a stream,
    current_timestamp() is the micro-batch's time, kept in the checkpoint: replays agree)."""
    received = F.current_timestamp() if ingested_at is None else F.lit(ingested_at)
    return kafka.select(
        "key", "value", "topic", "partition", "offset",
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("timestampType").alias("kafka_timestamp_type"),
        received.cast("timestamp").alias("ingested_at"),
    ).withColumn("ingest_date", F.to_date("ingested_at"))


def _field(fields: Column, name: str) -> Column:
    return fields.getItem(name)


def _reject_reason(fields: Column, event_ts: Column, max_ahead: timedelta) -> Column:
    """The first rule a record breaks, in a fixed order; NULL for a valid message."""
    reason = F.when(fields.isNull(), F.lit(NOT_JSON))
    for name in FIELDS:
        value = _field(fields, name)
        missing = value.isNull() | (F.trim(value) == "")
        reason = reason.when(missing, F.lit(f"{MISSING_FIELD}: {name}"))
    reason = reason.when(
        ~_field(fields, "customer_id").rlike(_CUSTOMER_ID), F.lit(f"{WRONG_TYPE}: customer_id")
    ).when(
        ~_field(fields, "event_datetime").rlike(_ISO_DATETIME) | event_ts.isNull(),
        F.lit(f"{WRONG_TYPE}: event_datetime"),
    ).when(
        # a clock years ahead would drag the watermark along and make everything "too late"
        event_ts > F.col("kafka_timestamp") + F.expr(f"INTERVAL {int(max_ahead.total_seconds())}"
                                                      " SECONDS"),
        F.lit(f"{IN_THE_FUTURE}: event_datetime"),
    )
    return reason


def parse_messages(bronze: DataFrame, max_ahead: timedelta = MAX_AHEAD) -> DataFrame:
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
        .when(F.from_json(F.col("raw_value"), "map<string,string>").isNull(), F.lit(NOT_JSON))
        .otherwise(fast),
    )
    reason = F.col("_reason")
    valid = reason.isNull()
    return parsed.select(
        # only rejects keep the text (the dedupe shuffle and state carry no payload twice)
        F.when(~valid, F.col("raw_value")).alias("raw_value"),
        "topic", "partition", "offset", "kafka_timestamp", "ingested_at",
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
    # a valid message's text is not carried along: its fields, re-encoded, stand for it
    # (bronze holds the exact bytes at the same partition and offset)
    fields = F.to_json(F.struct(*[F.col(name) for name in FIELDS]))
    return parsed.withColumns({
        "reason": F.when(late, F.lit(TOO_LATE)).otherwise(F.col("reason")),
        "raw_value": F.when(late, fields).otherwise(F.col("raw_value")),
    })


def reject_rules(max_lateness: timedelta, max_ahead: timedelta = MAX_AHEAD) -> list[Expectation]:
    """The reject reasons as `drop` expectations, in the order a record is checked (it
    gets the first reason it breaks), named as `rule_of` names a reason.

    Each condition states its rule in SQL over the message's fields as text, the broker's
    `kafka_timestamp` and the stream's `watermark` (newest accepted event time). The
    stream does not evaluate them again: `parse_messages` and `too_late` already gave
    every record its reason, and a micro-batch counts those (see micro_batch.Summary).
    """
    event_ts = "try_to_timestamp(event_datetime)"
    iso = _ISO_DATETIME.replace("\\", "\\\\")  # a backslash in a SQL string is an escape
    ahead, late = int(max_ahead.total_seconds()), int(max_lateness.total_seconds())
    return [
        Expectation("not_json", "from_json(raw_value, 'map<string,string>') IS NOT NULL", "drop"),
        Expectation("missing_field", " AND ".join(f"trim({name}) <> ''" for name in FIELDS),
                    "drop"),
        Expectation("wrong_type", f"customer_id RLIKE '{_CUSTOMER_ID}' AND event_datetime RLIKE "
                    f"'{iso}' AND {event_ts} IS NOT NULL", "drop"),
        Expectation("in_the_future", f"{event_ts} <= kafka_timestamp + INTERVAL {ahead} SECONDS",
                    "drop"),
        Expectation("too_late", f"{event_ts} >= watermark - INTERVAL {late} SECONDS", "drop"),
    ]


_RULES = {NOT_JSON: "not_json", MISSING_FIELD: "missing_field", WRONG_TYPE: "wrong_type",
          IN_THE_FUTURE: "in_the_future", TOO_LATE: "too_late"}


def rule_of(reason: str) -> str:
    """The expectation a reject reason breaks: "missing field: payload" -> missing_field."""
    return _RULES[reason.split(":", maxsplit=1)[0]]


def rejects(parsed: DataFrame) -> DataFrame:
    """Records that are not countable messages: the raw value and why."""
    return parsed.filter(F.col("reason").isNotNull()).select(
        "raw_value", "reason", "topic", "partition", "offset", "kafka_timestamp",
        "ingested_at", F.to_date("ingested_at").alias("ingest_date"),
    )


def valid_messages(parsed: DataFrame) -> DataFrame:
    """Typed messages, with event_date (silver's partition column)."""
    return parsed.filter(F.col("reason").isNull()).select(
        "message_id", "customer_id", "customer_name", "channel", "payload", "event_datetime",
        F.to_date("event_datetime").alias("event_date"),
        F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset"),
        "kafka_timestamp", "ingested_at",
    )


def first_deliveries(parsed: DataFrame, horizon: timedelta) -> DataFrame:
    """Drops a record whose message_id arrived before within `horizon` of ARRIVAL time.

    Spark's state store keeps each message_id until the watermark on the broker's
    LogAppendTime (`kafka_timestamp`) passes it by `horizon`: a re-delivery arriving
    within the horizon is dropped, across micro-batches and restarts (the state is in the
    checkpoint). Watermarking arrival, not event time, never drops a first delivery that
    is late by event time; and a re-delivery carries its original's event time, so
    whatever an event-time horizon would catch, an arrival-time one catches too. Records
    that are not valid messages are keyed by topic-partition-offset: each one reaches
    rejects, none is merged into another. A batch DataFrame (one micro-batch in the
    tests) is deduplicated within itself.
    """
    key = F.coalesce(
        F.when(F.col("reason").isNull(), F.col("message_id")),
        F.concat_ws(":", F.lit("#"), "topic", "partition", "offset"),
    )
    keyed = parsed.withColumn("dedupe_key", key)
    if not parsed.isStreaming:
        return keyed.dropDuplicates(["dedupe_key"]).drop("dedupe_key")
    seconds = int(horizon.total_seconds())
    return (
        keyed.withWatermark("kafka_timestamp", f"{seconds} seconds")
        .dropDuplicatesWithinWatermark(["dedupe_key"])
        .drop("dedupe_key")
    )


def usage_per_customer(gold: DataFrame) -> DataFrame:
    """Notifications per customer and channel with the last update (the seed's panel)."""
    return (
        gold.groupBy("customer_id", "customer_name", "channel")
        .agg(F.sum("notifications").alias("notifications"),
             F.max("updated_at").alias("updated_at"))
        .orderBy(F.col("notifications").desc(), "customer_id", "channel")
    )


def batch_summary(parsed: DataFrame) -> DataFrame:
    """Rows per reason (NULL = valid) and, for valid messages, per gold key and minute,
    with the newest and oldest event time: small enough to collect (a row per customer,
    channel and minute touched, plus one per reject reason), and everything a micro-batch
    needs besides its appends: counts per reason, the watermark, gold's increments.
    Times as UTC epoch microseconds: a collected Python datetime would come back in the
    driver's local zone."""
    return parsed.groupBy(
        "reason", "customer_id", "customer_name", "channel",
        F.unix_micros(F.date_trunc("minute", "event_datetime")).alias("minute_us"),
    ).agg(
        F.count(F.lit(1)).alias("n"),
        F.unix_micros(F.max("event_datetime")).alias("newest_us"),
        F.unix_micros(F.min("event_datetime")).alias("oldest_us"),
    )


def gold_increments(summary: DataFrame, updated_at: datetime) -> DataFrame:
    """Gold increments from a batch summary's valid rows: messages per customer, channel
    and event-time minute (a late message in its own minute), with gold's partitions."""
    minute = F.timestamp_micros("minute_us")
    return summary.filter(F.col("reason").isNull()).select(
        "customer_id", "customer_name", "channel", minute.alias("minute"),
        F.col("n").alias("notifications"), F.to_date(minute).alias("event_date"),
        F.hour(minute).alias("event_hour"),
        F.lit(updated_at).cast("timestamp").alias("updated_at"),
    )


def rollup_increments(summary: DataFrame, updated_at: datetime) -> DataFrame:
    """The rollup's increments from a batch summary's valid rows: per customer, channel
    and event-time hour, the batch's messages, its newest minute and that minute's count.

    The rollup (beside gold) is what views over all customers read: a day of it is at
    most customers x channels x 24 rows, where gold has a row per minute."""
    minute = F.timestamp_micros("minute_us")
    return (
        summary.filter(F.col("reason").isNull())
        .withColumn("minute", minute)
        .groupBy("customer_id", "customer_name", "channel",
                 F.to_date("minute").alias("event_date"), F.hour("minute").alias("event_hour"))
        .agg(F.sum("n").alias("notifications"), F.max("minute").alias("last_minute"),
             # one summary row per key and minute: the count at the newest minute
             F.max_by("n", "minute").alias("last_minute_notifications"))
        .withColumn("updated_at", F.lit(updated_at).cast("timestamp"))
    )


def rollup_of_gold(gold: DataFrame) -> DataFrame:
    """The rollup rebuilt from gold (a stream that kept gold before the rollup existed)."""
    return (
        gold.groupBy("customer_id", "customer_name", "channel", "event_date", "event_hour")
        .agg(F.sum("notifications").alias("notifications"),
             F.max("minute").alias("last_minute"),
             F.max_by("notifications", "minute").alias("last_minute_notifications"),
             F.max("updated_at").alias("updated_at"))
    )
