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

from esteira.connectors import delta
from esteira.connectors.files import read_table, write_text
from esteira.errors import InputError
from esteira.portfolio.transforms import CLIENT, KEY, MANAGER

TABLES = ("assignment", "unassigned", "rejects")
STAGING = "_staging"  # under the output folder: the copies sit on the same file system


def read_clients(session: SparkSession, location: str) -> DataFrame:
    return read_table(session, location, required=[CLIENT, KEY], name=f"clients ({location})")


def read_managers(session: SparkSession, location: str) -> DataFrame:
    managers = read_table(session, location, required=[MANAGER, KEY], name=f"managers ({location})")
    if managers.limit(1).count() == 0:
        raise InputError(f"managers ({location})", "the managers table is empty")
    return managers


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
