"""The dashboard's read-only queries over Delta tables, without a JVM or a SparkSession.

delta-rs (`deltalake`) keeps each table's handle open and brings it up to the latest
version incrementally (`update_incremental` reads only the log entries written since);
pyarrow reads the Parquet files of the partitions a query needs, and polars computes.
Views over all customers read the rollup (per customer, channel and hour) that the
stream keeps beside gold: a day of it is customers x channels x 24 rows, against a row
per minute in gold. A customer's minutes read gold, pruned to the day's partitions and
filtered on customer_id; the report reads silver the same way. A day is a billing day:
local midnight to local midnight in `billing.timezone`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.dataset as ds

from esteira.billing.render import day_bounds
from esteira.web.handles import DeltaHandle, SortedFiles, empty_minutes

ROLLUP_COLUMNS = ["customer_id", "customer_name", "channel", "event_date", "event_hour",
                  "notifications", "last_minute", "last_minute_notifications"]
SORTS = ("notifications", "customer_name", "last_minute")
_REPORT_COLUMNS = ["message_id", "customer_id", "customer_name", "channel", "payload",
                   "event_datetime"]


@dataclass(frozen=True)
class Day:
    """A billing day and its [start, end) in UTC."""

    day: date
    start: datetime
    end: datetime

    @classmethod
    def of(cls, day: date, tz: str) -> Day:
        start, end = day_bounds(day, tz)
        return cls(day, start, end)

    def utc_hours(self) -> list[tuple[date, int]]:
        """The UTC (date, hour) partitions of gold that the day overlaps (24 for a
        zone with a whole-hour offset, 25 when its offset has minutes)."""
        hour = self.start.replace(minute=0, second=0, microsecond=0)
        out = []
        while hour < self.end:
            out.append((hour.date(), hour.hour))
            hour += timedelta(hours=1)
        return out

    def utc_dates(self) -> list[date]:
        """The UTC dates (gold's and silver's event_date partitions) the day spans."""
        last = (self.end - timedelta(microseconds=1)).date()
        return [self.start.date() + timedelta(days=i)
                for i in range((last - self.start.date()).days + 1)]


@dataclass
class HomePage:
    day: date
    channels: list[str]
    total_customers: int
    rows: list[dict[str, Any]]
    version: int | None


class Queries:
    """Every read of the dashboard, over handles opened once."""

    def __init__(self, notifications_root: Path, bills_path: Path, tz: str,
                 refresh_seconds: float = 1.0, gold_cache_rows: int = 6_000_000) -> None:
        self.tz = tz
        self.gold_files = SortedFiles(gold_cache_rows)
        self.gold = DeltaHandle(notifications_root / "gold", refresh_seconds)
        self.rollup = DeltaHandle(notifications_root / "rollup", refresh_seconds)
        self.silver = DeltaHandle(notifications_root / "silver", refresh_seconds)
        self.bills = DeltaHandle(bills_path, refresh_seconds)
        self._rollup: tuple[int, pl.DataFrame] | None = None
        self._days: dict[date, tuple[int, pl.DataFrame, list[str]]] = {}
        self._lock = threading.Lock()

    # -- the rollup, all customers -------------------------------------------------
    def rollup_frame(self) -> tuple[int | None, pl.DataFrame]:
        """The whole rollup in memory, read again only when its version moved."""
        version = self.rollup.version()
        with self._lock:
            if self._rollup is not None and self._rollup[0] == version:
                return self._rollup
        snap = self.rollup.snapshot()
        if snap is None:
            return None, _empty_rollup()
        version, dataset = snap
        with self._lock:
            if self._rollup is None or self._rollup[0] != version:
                frame = pl.from_arrow(dataset.to_table(columns=ROLLUP_COLUMNS))
                # sorted by customer: one customer's rows are a slice (binary search)
                self._rollup = (version, frame.with_columns(
                    pl.col("last_minute").dt.replace_time_zone(None).dt.replace_time_zone(
                        "UTC")).sort("customer_id"))
                self._days.clear()
            return self._rollup

    def today(self) -> date:
        return datetime.now(UTC).astimezone(_zone(self.tz)).date()

    def latest_day(self) -> date | None:
        """The local day of the newest minute counted (None: nothing counted yet)."""
        _, frame = self.rollup_frame()
        if frame.is_empty():
            return None
        return frame["last_minute"].max().astimezone(_zone(self.tz)).date()

    def customers_of_day(self, day: date) -> tuple[int | None, pl.DataFrame, list[str]]:
        """One row per customer: the day's count per channel (columns `ch:<channel>`),
        the total, and the customer's newest minute (any day) with its count."""
        version, frame = self.rollup_frame()
        with self._lock:
            cached = self._days.get(day)
            if cached is not None and cached[0] == version:
                return cached
        bounds = Day.of(day, self.tz)
        hour = pl.col("event_date").cast(pl.Datetime("us", "UTC")) + pl.duration(
            hours=pl.col("event_hour"))
        of_day = (frame.filter((hour >= bounds.start) & (hour < bounds.end))
                  .group_by("customer_id", "channel").agg(pl.col("notifications").sum()))
        channels = sorted(of_day["channel"].unique().to_list())
        newest = (
            frame.filter(pl.col("last_minute") == pl.col("last_minute").max().over("customer_id"))
            .group_by("customer_id")
            .agg(pl.col("customer_name").first(), pl.col("last_minute").first(),
                 pl.col("last_minute_notifications").sum())
        )
        table = newest
        for channel in channels:
            counts = of_day.filter(pl.col("channel") == channel).select(
                "customer_id", pl.col("notifications").alias(f"ch:{channel}"))
            table = table.join(counts, on="customer_id", how="left")
        table = table.with_columns([pl.col(f"ch:{c}").fill_null(0) for c in channels])
        total = pl.sum_horizontal([pl.col(f"ch:{c}") for c in channels]) if channels else pl.lit(0)
        table = table.with_columns(total.cast(pl.Int64).alias("notifications"))
        result = (version, table, channels)
        with self._lock:
            self._days[day] = result
        return result

    def home(self, day: date, search: str = "", sort: str = "notifications",
             descending: bool = True, page: int = 1, size: int = 50) -> HomePage:
        version, table, channels = self.customers_of_day(day)
        if search.strip():
            needle = search.strip().lower()
            table = table.filter(
                pl.col("customer_name").str.to_lowercase().str.contains(needle, literal=True)
                | pl.col("customer_id").cast(pl.String).str.starts_with(needle))
        order = [sort, "customer_name", "customer_id"]
        table = table.sort(order, descending=[descending, False, False], nulls_last=True)
        start = (max(page, 1) - 1) * size
        rows = table.slice(start, size).to_dicts()
        for row in rows:
            row["channels"] = {c: row.pop(f"ch:{c}") for c in channels}
        return HomePage(day, channels, table.height, rows, version)

    # -- one customer --------------------------------------------------------------
    def customer(self, customer_id: int) -> dict[str, Any] | None:
        """The customer's name and newest minute (from the rollup), or None if unknown."""
        _, frame = self.rollup_frame()
        ids = frame["customer_id"]
        lo = ids.search_sorted(customer_id, "left")
        mine = frame.slice(lo, ids.search_sorted(customer_id, "right") - lo)
        if mine.is_empty():
            return None
        newest = mine.filter(pl.col("last_minute") == pl.col("last_minute").max())
        return {"customer_id": customer_id, "customer_name": newest["customer_name"][0],
                "last_minute": newest["last_minute"][0],
                "last_minute_notifications": int(newest["last_minute_notifications"].sum())}

    def minutes(self, customer_id: int, day: date) -> pl.DataFrame:
        """Gold's notifications per minute and channel of one customer's day."""
        bounds = Day.of(day, self.tz)
        columns = ["minute", "channel", "notifications"]
        files = self.gold.files(bounds.utc_dates(), hours=bounds.utc_hours())
        if files is not None:
            frame = self.gold_files.customer_rows(files[1], customer_id)
        else:
            snap = self.gold.snapshot(bounds.utc_dates())
            if snap is None:
                return empty_minutes()
            frame = pl.from_arrow(snap[1].to_table(
                columns=columns, filter=ds.field("customer_id") == customer_id))
        frame = frame.with_columns(
            pl.col("minute").dt.replace_time_zone(None).dt.replace_time_zone("UTC")).filter(
            (pl.col("minute") >= bounds.start) & (pl.col("minute") < bounds.end))
        return (frame.group_by("minute", "channel").agg(pl.col("notifications").sum())
                .sort("minute", "channel"))

    def report_rows(self, customer_id: int, day: date) -> Iterator[dict[str, Any]]:
        """Silver's messages of one customer's day, in (event time, message_id) order."""
        bounds = Day.of(day, self.tz)
        files = self.silver.files(bounds.utc_dates())
        if files is not None:
            if not files[1]:
                return iter(())
            frame = (pl.scan_parquet(files[1]).filter(pl.col("customer_id") == customer_id)
                     .select(_REPORT_COLUMNS).collect())
        else:
            snap = self.silver.snapshot(bounds.utc_dates())
            if snap is None:
                return iter(())
            frame = pl.from_arrow(snap[1].to_table(
                columns=_REPORT_COLUMNS, filter=ds.field("customer_id") == customer_id))
        frame = frame.with_columns(pl.col("event_datetime").dt.replace_time_zone(None)
                                   .dt.replace_time_zone("UTC"))
        frame = frame.filter((pl.col("event_datetime") >= bounds.start)
                             & (pl.col("event_datetime") < bounds.end)
                             ).sort("event_datetime", "message_id")
        return (row for part in frame.iter_slices(10_000) for row in part.iter_rows(named=True))

    def bills_of(self, customer_id: int, day: date | None = None) -> list[dict[str, Any]]:
        """The customer's billing lines (newest day first), or one day's."""
        snap = self.bills.snapshot(None if day is None else [day], column="billing_date")
        if snap is None:
            return []
        _, dataset = snap
        table = dataset.to_table(filter=ds.field("customer_id") == customer_id)
        frame = pl.from_arrow(table)
        if frame.is_empty():
            return []
        return frame.sort(["billing_date", "line_type", "channel"],
                          descending=[True, False, False]).to_dicts()


def _empty_rollup() -> pl.DataFrame:
    return pl.DataFrame(schema={
        "customer_id": pl.Int64, "customer_name": pl.String, "channel": pl.String,
        "event_date": pl.Date, "event_hour": pl.Int32, "notifications": pl.Int64,
        "last_minute": pl.Datetime("us", "UTC"), "last_minute_notifications": pl.Int64})


def _zone(tz: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)
