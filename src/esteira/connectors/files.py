"""Reading and writing tables on paths: Delta, Parquet, CSV, JSON, or a catalog table.

Every pipeline reads its inputs through `read_table`, so a missing path, an unknown
format or a missing column fails the same way everywhere: one InputError naming the
source. Writes of Delta tables are atomic (one Delta commit) and keep history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from esteira.errors import InputError, MissingColumnError

Format = Literal["delta", "parquet", "csv", "json", "table"]
_SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json"}


def is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def detect_format(location: str) -> Format:
    """Delta when the folder has a _delta_log; else by file suffix (also inside a folder)."""
    if is_remote(location):
        suffix = Path(location.rstrip("/")).suffix.lower()
        return _SUFFIXES.get(suffix, "delta")  # type: ignore[return-value]
    path = Path(location)
    if not path.exists():
        looks_like_table = "/" not in location and "." in location.strip(".")
        if looks_like_table and path.suffix.lower() not in _SUFFIXES:
            return "table"  # schema.table in a catalog
        raise InputError(location, "path does not exist")
    if path.is_dir():
        if (path / "_delta_log").is_dir():
            return "delta"
        for child in sorted(path.rglob("*")):
            fmt = _SUFFIXES.get(child.suffix.lower())
            if fmt and child.is_file():
                return fmt  # type: ignore[return-value]
        raise InputError(location, "folder holds no Delta log and no .parquet/.csv/.json files")
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputError(location, f"unknown file type {path.suffix!r} (use delta, parquet, csv)")
    return fmt  # type: ignore[return-value]


def read_table(
    session: SparkSession,
    location: str | Path,
    *,
    fmt: Format | None = None,
    options: Mapping[str, str] | None = None,
    schema: StructType | str | None = None,
    required: Iterable[str] = (),
    name: str | None = None,
) -> DataFrame:
    """Reads a table and checks that it has the `required` columns.

    CSV is read with a header and, unless a schema is given, every column as a string,
    so that no value is changed by type inference; pipelines cast explicitly.
    """
    location = str(location)
    label = name or location
    fmt = fmt or detect_format(location)
    opts = dict(options or {})
    try:
        if fmt == "table":
            df = session.read.table(location)
        else:
            reader = session.read.format(fmt)
            if fmt == "csv":
                opts = {"header": "true", "inferSchema": "false", **opts}
            if schema is not None:
                reader = reader.schema(schema)
            df = reader.options(**opts).load(location)
        df.columns  # noqa: B018 - forces schema resolution so read errors surface here
    except InputError:
        raise
    except Exception as exc:
        raise InputError(label, f"cannot be read as {fmt}: {_first_line(exc)}") from None
    require_columns(df, required, label)
    return df


def require_columns(df: DataFrame, required: Iterable[str], source: str) -> None:
    """Raises MissingColumnError naming the source when a column is absent."""
    columns = df.columns
    missing = [c for c in required if c not in columns]
    if missing:
        raise MissingColumnError(source, missing, columns)


def write_delta(
    df: DataFrame,
    path: str | Path,
    *,
    mode: Literal["overwrite", "append"] = "overwrite",
    partition_by: list[str] | None = None,
    replace_where: str | None = None,
) -> None:
    """Writes a Delta table in one atomic commit; earlier versions stay in its history."""
    writer = df.write.format("delta").mode(mode)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if replace_where:
        writer = writer.option("replaceWhere", replace_where)
    elif mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    writer.save(str(path))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__
