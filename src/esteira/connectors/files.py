"""Reading and writing tables on paths: Delta, Parquet, CSV, JSON, or a catalog table.

Every pipeline reads its inputs through `read_table`, so a missing path, an unknown
format or a missing column fails the same way everywhere: one InputError naming the
source. `write_single_file` writes a result as one CSV or Parquet file that appears in
one rename. Delta writes live in esteira.connectors.delta; a run's scratch copies in
esteira.connectors.staging.
"""

from __future__ import annotations

import csv
import ctypes
import functools
import glob
import io
import os
import shutil
import threading
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pyarrow as pa
from pyarrow import csv as pa_csv
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
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
    if fmt is None:
        try:
            fmt = detect_format(location)
        except InputError as exc:  # named as the caller names this input
            raise InputError(label, exc.problem) from None
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
        if fmt == "delta":  # the JVM takes the schema from a checksum file: replay the log
            df.limit(1).count()
    except InputError:
        raise
    except Exception as exc:  # the engine's text may quote a value: its class only
        raise unreadable(label, fmt, exc) from None
    if fmt == "json" and schema is None and "_corrupt_record" in df.columns:
        raise InputError(
            label, "holds lines that are not valid JSON (a truncated or corrupt file?)"
        )
    require_columns(df, required, label)
    return df


def unreadable(label: str, fmt: str, exc: BaseException) -> InputError:
    """The error for a file the engine could not read (truncated, corrupt, another
    format): it names the file and the format, and the engine's error by its class only,
    since the engine's message may quote a value of the file."""
    return InputError(
        label,
        f"cannot be read as {fmt}: the file is truncated, corrupt or not {fmt} "
        f"({type(exc).__name__})",
    )


def csv_line_of(
    path: str | Path, values: Mapping[str, str | None], delimiter: str = ","
) -> int | None:
    """The line number (the header is line 1) of the first CSV record whose fields equal
    `values` (None matching an empty field), else None (not a local CSV file, or no
    such record).

    For error messages that must point at a row without quoting it: the engine reads
    rows in no order it can number, so the bad row's own values are looked up here, in
    one pass over the file, on the error path only.
    """
    path = Path(path)
    if not path.is_file() or path.suffix.lower() != ".csv":
        return None
    wanted = {k: "" if v is None else str(v) for k, v in values.items()}
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        for record in reader:
            if all((record.get(k) or "") == v for k, v in wanted.items()):
                return reader.line_num
    return None


def require_columns(df: DataFrame, required: Iterable[str], source: str) -> None:
    """Raises MissingColumnError naming the source when a column is absent."""
    columns = df.columns
    missing = [c for c in required if c not in columns]
    if missing:
        raise MissingColumnError(source, missing, columns)


def write_single_file(
    df: DataFrame,
    path: Path,
    *,
    delimiter: str = ",",
    fmt: Literal["csv", "parquet"] | None = None,
) -> None:
    """One CSV (header, `delimiter`) or Parquet file at `path`, rows in df's order; the
    format is `fmt`, else the suffix's (.parquet, anything else CSV).

    The rows come to the driver as Arrow and Python writes the file: the engines write
    folders of part files, and Sail does not keep a sort on write. CSV values are the
    engine's text casts (ISO dates, dot decimals, empty fields for null). The file is
    written beside `path` and renamed over it, so readers never see half of it. Meant
    for results that fit in the driver's memory (one row per account, session, person).
    """
    path = Path(path)
    tmp = _beside(path)
    try:
        if (fmt or ("parquet" if path.suffix.lower() == ".parquet" else "csv")) == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(df.toArrow(), tmp)
        else:
            text = df.select(*[F.col(f"`{c}`").cast("string").alias(c) for c in df.columns])
            with tmp.open("wb") as fh:
                _write_csv(text.toArrow(), df.columns, fh, delimiter)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_csv(table: pa.Table, columns: list[str], fh: BinaryIO, delimiter: str) -> None:
    header = io.StringIO()
    csv.writer(header, delimiter=delimiter, lineterminator="\n").writerow(columns)
    start = header.getvalue().encode("utf-8")
    fh.write(start)
    try:  # Arrow's writer is fast, but quotes every text value unless told not to
        options = pa_csv.WriteOptions(
            include_header=False, quoting_style="none", delimiter=delimiter)
        pa_csv.write_csv(table, fh, options)
    except pa.ArrowInvalid:  # a value holds the delimiter, a quote or a newline: quote it
        fh.seek(len(start))
        fh.truncate()
        text_fh = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        writer = csv.writer(text_fh, delimiter=delimiter, lineterminator="\n")
        for batch in table.to_batches():
            writer.writerows(zip(*(c.to_pylist() for c in batch.columns), strict=True))
        text_fh.flush()
        text_fh.detach()


def write_text(path: Path, text: str) -> Path:
    """A small text file (a summary, a manifest) replaced in one rename."""
    tmp = _beside(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def swap_in(tmp: Path, path: Path) -> None:
    """`tmp` renamed over `path` in one step (a reader sees the old file or the new one).

    A large file replaces its previous version by exchanging the two names (Linux's
    renameat2 RENAME_EXCHANGE) and unlinking the old one in a thread: a plain rename
    over a file on ext4 makes the kernel allocate the new file's delayed blocks first
    (0.64-0.76 s for 700 MB here), and unlinking 700 MB takes another 0.3 s. Elsewhere
    (no renameat2, a file system without exchange, no previous file), os.replace.
    The old version goes by a name of its own kind (`.<name>.old-*`): one a killed
    process left behind is removed by the next swap."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.old-*"):
        stale.unlink(missing_ok=True)  # only ever old versions on their way out
    if path.exists() and _exchange(tmp, path):
        old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(tmp, old)  # a fresh name: the next write may reuse `tmp` at once
        threading.Thread(target=old.unlink, kwargs={"missing_ok": True},
                         name="esteira-unlink").start()
        return
    os.replace(tmp, path)


def _exchange(a: Path, b: Path) -> bool:
    """Swaps the two names atomically; False when this system cannot."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    at_cwd, exchange = -100, 2  # AT_FDCWD, RENAME_EXCHANGE
    return renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), exchange) == 0


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def replace_folder(df: DataFrame, path: Path, fmt: Literal["parquet"] = "parquet") -> None:
    """A folder of part files (Parquet) written aside, then swapped in by renames: a
    failed write leaves the old folder as it was."""
    tmp = _beside(path)
    old = _beside(path)
    try:
        df.write.mode("overwrite").format(fmt).save(str(tmp))
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _beside(path: Path) -> Path:
    """A hidden temporary name in path's folder (same file system: renames are atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
