"""Reading invoices and writing averages and rejects (CSV file, Parquet or Delta)."""

from __future__ import annotations

import csv
import io as io_module
import os
import shutil
import uuid
from pathlib import Path
from typing import Literal

import pyarrow as pa
from pyarrow import csv as pa_csv
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors import delta
from esteira.connectors.files import read_table
from esteira.invoices.schemas import INPUT_COLUMNS

OutputFormat = Literal["csv", "parquet", "delta"]
_UNQUOTED = pa_csv.WriteOptions(include_header=False, quoting_style="none")


def read_invoices(session: SparkSession, location: str | Path) -> DataFrame:
    """Invoices from CSV, Parquet or Delta; a missing column names the file."""
    return read_table(session, location, required=INPUT_COLUMNS, name=str(location))


def write_output(df: DataFrame, location: str | Path, fmt: OutputFormat) -> None:
    """Writes a result; a failed write leaves whatever was at `location` untouched."""
    if fmt == "delta":
        delta.write(df, location)
    elif fmt == "parquet":
        _write_swapped(df, Path(location))
    else:
        write_csv_file(df, Path(location))


def read_output(session: SparkSession, location: str | Path, fmt: OutputFormat) -> DataFrame:
    return read_table(session, location, fmt=fmt, name=str(location))


def write_staging(df: DataFrame, path: Path) -> None:
    """Intermediate per-account results, checked before any output is touched."""
    shutil.rmtree(path, ignore_errors=True)
    df.write.mode("overwrite").parquet(str(path))


def read_staging(session: SparkSession, path: Path) -> DataFrame:
    return read_table(session, path, fmt="parquet", name=str(path))


def drop_staging(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def write_csv_file(df: DataFrame, path: Path) -> None:
    """One CSV file with a header, rows in df's order: dot decimals, empty fields for null.

    The rows are streamed to the driver (Arrow) and written by Python's csv module: the
    engines' CSV writers produce folders of part files, and Sail does not keep a sort
    on write. The file appears in one rename, so readers never see half of it. Meant
    for results of one row per account or session, which fit in the driver's memory.
    """
    text = df.select(*[F.col(f"`{c}`").cast("string").alias(c) for c in df.columns])
    table = text.toArrow()
    header = io_module.StringIO()
    csv.writer(header, lineterminator="\n").writerow(df.columns)
    start = header.getvalue().encode("utf-8")
    tmp = _staging(path)
    try:
        with tmp.open("wb") as fh:
            fh.write(start)
            try:  # Arrow's writer is fast, but quotes every text value unless told not to
                pa_csv.write_csv(table, fh, _UNQUOTED)
            except pa.ArrowInvalid:  # a value holds a comma, quote or newline: quote those
                fh.seek(len(start))
                fh.truncate()
                text_fh = io_module.TextIOWrapper(fh, encoding="utf-8", newline="")
                writer = csv.writer(text_fh, lineterminator="\n")
                for batch in table.to_batches():
                    writer.writerows(zip(*(c.to_pylist() for c in batch.columns), strict=True))
                text_fh.flush()
                text_fh.detach()
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
