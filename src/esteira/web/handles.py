"""Delta tables held open by the web process, and gold's files sorted by customer.

A handle is opened once and moved to the latest version incrementally; what a version
costs to list (its files, an Arrow dataset) is built once per version. See
esteira.web.queries for the reads built on them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.dataset as ds
from deltalake import DeltaTable


def _has_commit(path: Path) -> bool:
    log_dir = path / "_delta_log"
    return log_dir.is_dir() and next(log_dir.glob("*.json"), None) is not None


class DeltaHandle:
    """One Delta table kept open for the life of the web process.

    A request looks at the table's log at most every `refresh_seconds` (the stream
    commits every few seconds; twenty requests in flight should not list the log twenty
    times); the handle then moves to the latest version, reading only the new commits."""

    def __init__(self, path: Path, refresh_seconds: float) -> None:
        self.path = path
        self.refresh_seconds = refresh_seconds
        self._table: DeltaTable | None = None
        self._looked = 0.0
        self._lock = threading.Lock()
        # building an Arrow dataset lists the version's files (tens of ms): once per
        # version and partition filter
        self._datasets: dict[tuple, ds.Dataset] = {}
        self._datasets_version: int | None = None

    def _current(self) -> DeltaTable | None:
        now = time.monotonic()
        if self._table is None:
            if not _has_commit(self.path):
                return None
            self._table = DeltaTable(str(self.path))
            self._looked = now
        elif now - self._looked >= self.refresh_seconds:
            self._table.update_incremental()
            self._looked = now
        return self._table

    def snapshot(self, dates: list[date] | None = None,
                 column: str = "event_date") -> tuple[int, ds.Dataset] | None:
        """(version, Arrow dataset) of the latest version, pruned to partitions
        `column` in `dates` when given; None while the table does not exist."""
        with self._lock:
            table = self._current()
            if table is None:
                return None
            version = table.version()
            if version != self._datasets_version:
                self._datasets.clear()
                self._datasets_version = version
            key = (column, None if dates is None else tuple(dates))
            dataset = self._datasets.get(key)
            if dataset is None:
                partitions = None if dates is None else [
                    (column, "in", [d.isoformat() for d in dates])]
                dataset = table.to_pyarrow_dataset(file_pruning_predicate=partitions)
                if len(self._datasets) >= 64:  # a few days' worth of customer pages
                    self._datasets.clear()
                self._datasets[key] = dataset
            return version, dataset

    def files(self, dates: list[date], column: str = "event_date",
              hours: list[tuple[date, int]] | None = None) -> tuple[int, list[str]] | None:
        """(version, Parquet files) of the partitions `column` in `dates` (or, with
        `hours`, of those (event_date, event_hour) partitions), for reads of data
        columns only (partition values live in the log, not in the files). None when
        the table does not exist, or its files need the log to be read right (deletion
        vectors, column mapping): then use `snapshot`."""
        with self._lock:
            table = self._current()
            if table is None or self._needs_log(table):
                return None
            version = table.version()
            if version != self._datasets_version:
                self._datasets.clear()
                self._datasets_version = version
            key = ("files", column, tuple(dates), tuple(hours or ()))
            found = self._datasets.get(key)
            if found is None:
                found = table.file_uris(file_pruning_predicate=_hour_filter(hours) if hours
                                        else [(column, "in", [d.isoformat() for d in dates])])
                if len(self._datasets) >= 64:
                    self._datasets.clear()
                self._datasets[key] = found
            return version, found

    @staticmethod
    def _needs_log(table: DeltaTable) -> bool:
        features = set(table.protocol().reader_features or [])
        return bool(features & {"deletionVectors", "columnMapping"})

    def version(self) -> int | None:
        with self._lock:
            table = self._current()
            return None if table is None else table.version()


class SortedFiles:
    """Gold's Parquet files, each read once and sorted by customer_id, so that one
    customer's rows of a file are a slice found by binary search.

    A Delta file never changes (a MERGE writes new files and removes the old ones from
    the log), so a file read once stays right; only the hours a batch touched bring new
    files. The least recently used go first past `max_rows` rows (about 25 bytes each:
    customer_id, minute, notifications, channel as a category)."""

    COLUMNS = ("customer_id", "minute", "channel", "notifications")

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self._files: OrderedDict[str, pl.DataFrame] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def customer_rows(self, files: list[str], customer_id: int) -> pl.DataFrame:
        parts = []
        for path in files:
            frame = self._frame(path)
            ids = frame["customer_id"]
            lo, hi = ids.search_sorted(customer_id, "left"), ids.search_sorted(customer_id, "right")
            if hi > lo:
                parts.append(frame.slice(lo, hi - lo))
        if not parts:
            return empty_minutes()
        return pl.concat(parts).select(
            "minute", pl.col("channel").cast(pl.String), "notifications")

    def _frame(self, path: str) -> pl.DataFrame:
        with self._lock:
            frame = self._files.get(path)
            if frame is not None:
                self._files.move_to_end(path)
                return frame
        frame = (pl.read_parquet(path, columns=list(self.COLUMNS))
                 .with_columns(pl.col("channel").cast(pl.Categorical),
                               pl.col("notifications").cast(pl.Int64))
                 .sort("customer_id"))
        with self._lock:
            if path not in self._files:
                self._files[path] = frame
                self._rows += frame.height
            while self._rows > self.max_rows and len(self._files) > 1:
                _, old = self._files.popitem(last=False)
                self._rows -= old.height
        return frame


def _hour_filter(hours: list[tuple[date, int]]) -> list[list[tuple[str, str, object]]]:
    """(event_date, event_hour) partitions as delta-rs' OR of ANDs; partition values
    compare as text there, so hours are listed, never ranged."""
    per_date: dict[date, list[str]] = {}
    for day, hour in hours:
        per_date.setdefault(day, []).append(str(hour))
    return [[("event_date", "=", day.isoformat()), ("event_hour", "in", hs)]
            for day, hs in per_date.items()]


def empty_minutes() -> pl.DataFrame:
    return pl.DataFrame(schema={"minute": pl.Datetime("us", "UTC"), "channel": pl.String,
                                "notifications": pl.Int64})
