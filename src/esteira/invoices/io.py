"""Reading invoices and writing averages and rejects (CSV file, Parquet or Delta)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pyspark.sql import DataFrame, SparkSession

from esteira.connectors import delta
from esteira.connectors.files import read_table, replace_folder, write_single_file
from esteira.invoices.schemas import INPUT_COLUMNS

OutputFormat = Literal["csv", "parquet", "delta"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("csv", "parquet", "delta")


def read_invoices(session: SparkSession, location: str | Path) -> DataFrame:
    """Invoices from CSV, Parquet or Delta; a missing column names the file."""
    return read_table(session, location, required=INPUT_COLUMNS, name=str(location))


def write_output(df: DataFrame, location: Path, fmt: OutputFormat) -> None:
    """Writes a result; a failed write leaves whatever was at `location` untouched.

    csv is one file in df's row order (the seed's expected table is one file); parquet a
    folder swapped in by renames; delta one commit, earlier versions kept in its history.
    """
    if fmt == "delta":
        delta.write(df, location)
    elif fmt == "parquet":
        replace_folder(df, location)
    else:
        write_single_file(df, location, fmt="csv")


def write_rejects(df: DataFrame, location: Path) -> None:
    """Bad rows with the rule they broke, as one CSV file (whatever its suffix)."""
    write_single_file(df, location, fmt="csv")


def read_output(session: SparkSession, location: Path, fmt: OutputFormat) -> DataFrame:
    return read_table(session, location, fmt=fmt, name=str(location))
