"""Reading invoices and writing averages and rejects (CSV file, Parquet or Delta)."""

from __future__ import annotations

import csv
import os
import shutil
import uuid
from pathlib import Path
from typing import Literal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors.files import read_table, write_delta
from esteira.invoices.schemas import INPUT_COLUMNS

OutputFormat = Literal["csv", "parquet", "delta"]


def read_invoices(session: SparkSession, location: str | Path) -> DataFrame:
    """Invoices from CSV, Parquet or Delta; a missing column names the file."""
    return read_table(session, location, required=INPUT_COLUMNS, name=str(location))


def write_output(df: DataFrame, location: str | Path, fmt: OutputFormat) -> None:
    """Writes a result; a failed write leaves whatever was at `location` untouched."""
    if fmt == "delta":
        write_delta(df, location)
    elif fmt == "parquet":
        _write_swapped(df, Path(location))
    else:
        write_csv_file(df, Path(location))


def read_output(session: SparkSession, location: str | Path, fmt: OutputFormat) -> DataFrame:
    return read_table(session, location, fmt=fmt, name=str(location))


def write_csv_file(df: DataFrame, path: Path) -> None:
    """One CSV file with a header, rows in df's order: dot decimals, empty fields for null.

    The rows are streamed to the driver (Arrow) and written by Python's csv module: the
    engines' CSV writers produce folders of part files, and Sail does not keep a sort
    on write. The file appears in one rename, so readers never see half of it. Meant
    for results of one row per account or session, which fit in the driver's memory.
    """
    text = df.select(*[F.col(f"`{c}`").cast("string").alias(c) for c in df.columns])
    table = text.toArrow()
    tmp = _staging(path)
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(df.columns)
            for batch in table.to_batches():
                writer.writerows(zip(*(col.to_pylist() for col in batch.columns), strict=True))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_swapped(df: DataFrame, path: Path) -> None:
    """Parquet folder written aside, then swapped in by renames."""
    staging = _staging(path)
    try:
        df.write.mode("overwrite").parquet(str(staging))
        old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        if path.exists():
            os.replace(path, old)
        os.replace(staging, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _staging(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
