"""Reads and writes of the portfolio distribution.

Outputs are first staged as Parquet under <out>/_staging/<run_id>, validated there, and
only then written as Delta tables (one atomic commit each; Delta history keeps the
earlier versions). A run that fails validation writes no table.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from esteira.connectors import delta
from esteira.connectors.files import read_table
from esteira.errors import InputError
from esteira.portfolio.transforms import CLIENT, KEY, MANAGER

TABLES = ("assignment", "unassigned", "rejects")


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


class Stager:
    """Materializes a frame once as Parquet under the run's staging folder.

    Validation and the final Delta writes then read the staged copy instead of
    recomputing the plan. The schema is kept beside the path: an empty frame may leave
    no Parquet file to read it from.
    """

    def __init__(self, session: SparkSession, folder: Path) -> None:
        self.session = session
        self.folder = folder

    def __call__(self, name: str, df: DataFrame) -> DataFrame:
        path = self.folder / name
        schema: StructType = df.schema
        df.write.mode("overwrite").parquet(str(path))
        return self.session.read.schema(schema).parquet(str(path))


def publish(staged: dict[str, DataFrame], out: Path) -> None:
    """Replaces each output Delta table from its validated staged copy."""
    for name in TABLES:
        delta.write(staged[name], out / name, mode="overwrite")


def write_summary(summary: dict[str, Any], out: Path) -> Path:
    path = out / "summary.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), "utf-8")
    tmp.replace(path)  # atomic on one filesystem
    return path


def drop_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    parent = staging.parent
    if parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
