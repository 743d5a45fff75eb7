"""Counting a billing day, two independent ways (pure: DataFrames in and out).

The bill counts from gold (the stream's per-minute counts), the reconciliation from
silver (one row per delivered message): each line must equal silver's count of
distinct message_ids for that customer, channel and day before anything is written.
A billing day is [start, end) in UTC (local midnight to local midnight); gold's minutes
are UTC minutes, which tile any zone's day whose offset is whole minutes (every zone
in use today; `day_window` refuses any other).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from esteira.errors import ConfigError

KEYS = ("customer_id", "channel")


def day_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if start.second or start.microsecond or end.second or end.microsecond:
        raise ConfigError(
            "billing.timezone: its offset is not whole minutes, so gold's "
            "minutes cannot tile its days"
        )
    return start, end


def _dates(column: str, start: datetime, end: datetime) -> Column:
    """UTC event_date partitions the window touches (partition pruning)."""
    last = (end - timedelta(microseconds=1)).date()
    return (F.col(column) >= F.lit(start.date())) & (F.col(column) <= F.lit(last))


def gold_counts(gold: DataFrame, start: datetime, end: datetime) -> DataFrame:
    """Per customer and channel: the day's notifications from gold's minutes, with the
    customer's name (the latest seen that day)."""
    day = gold.filter(
        _dates("event_date", start, end)
        & (F.col("minute") >= F.lit(start))
        & (F.col("minute") < F.lit(end))
    )
    return day.groupBy(*KEYS).agg(
        F.sum("notifications").cast("long").alias("notifications"),
        F.max_by("customer_name", "minute").alias("customer_name"),
    )


def silver_distinct_counts(silver: DataFrame, start: datetime, end: datetime) -> DataFrame:
    """Per customer and channel: distinct message_ids whose event time is in the day."""
    day = silver.filter(
        _dates("event_date", start, end)
        & (F.col("event_datetime") >= F.lit(start))
        & (F.col("event_datetime") < F.lit(end))
    )
    # distinct as two groupings (the ids, then their count): the plan both engines run
    # fastest, the same number as countDistinct
    return (
        day.groupBy(*KEYS, "message_id")
        .count()
        .groupBy(*KEYS)
        .agg(F.count(F.lit(1)).cast("long").alias("notifications"))
    )
