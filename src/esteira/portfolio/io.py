"""Reads and writes of the portfolio distribution.

The job computes its outputs into a StagingArea under <out>/_staging/<run_id>, checks
them there, and only then writes them here as Delta tables (one atomic commit each;
Delta history keeps the earlier versions). A run that fails its checks writes no table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.columns import is_blank
from esteira.connectors import delta
from esteira.connectors.files import csv_line_of, read_table, write_text
from esteira.errors import InputError
from esteira.portfolio.transforms import CAPACITY, CLIENT, KEY, MANAGER

TABLES = ("assignment", "unassigned", "rejects")
STAGING = "_staging"  # under the output folder: the copies sit on the same file system


def read_clients(session: SparkSession, location: str) -> DataFrame:
    return read_table(session, location, required=[CLIENT, KEY], name=f"clients ({location})")


def read_managers(session: SparkSession, location: str) -> DataFrame:
    label = f"managers ({location})"
    managers = read_table(session, location, required=[MANAGER, KEY], name=label)
    if managers.limit(1).count() == 0:
        raise InputError(label, "the managers table is empty")
    if CAPACITY in managers.columns:
        _check_capacity(managers, location, label)
    return managers


def _check_capacity(managers: DataFrame, location: str, label: str) -> None:
    """A capacidade that is set must be a whole number: a typo must not silently fall
    back to the default limit. The error points at the row (its line in a CSV file),
    never at its values."""
    text = F.trim(F.col(CAPACITY).cast("string"))
    bad = managers.filter(~is_blank(CAPACITY) & text.try_cast("long").isNull())
    rows = bad.limit(1).collect()
    if rows:
        values = {c: None if v is None else str(v) for c, v in rows[0].asDict().items()}
        line = csv_line_of(location, values)
        where = f"line {line} (row {line - 1})" if line else "a row"
        raise InputError(label, f"{where}: column {CAPACITY} is not a whole number")


def read_previous(session: SparkSession, location: str) -> DataFrame:
    return read_table(
        session, location, required=[CLIENT, MANAGER], name=f"previous assignment ({location})"
    )


def publish(frames: dict[str, DataFrame], out: Path) -> None:
    """Replaces each output Delta table from its checked, staged copy."""
    for name in TABLES:
        delta.write(frames[name], out / name, mode="overwrite")


def write_summary(summary: dict[str, Any], out: Path) -> Path:
    text = json.dumps(summary, ensure_ascii=False, indent=2, default=str)
    return write_text(out / "summary.json", text)
