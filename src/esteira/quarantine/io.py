"""Reads the configured sources and writes the quarantine tables.

A source is fetched into the staging folder when the engine cannot read it where it is
(SFTP, SharePoint, xlsx, re-encoded text) and read by the engine from there. Every error
names the source (its key and canal), never a value from the data.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors import delta, excel, remote, s3
from esteira.connectors.files import read_table
from esteira.errors import InputError, MissingColumnError
from esteira.quarantine.config import QuarantineSettings, SourceSettings
from esteira.quarantine.schemas import OUTPUT_COLUMNS, PARTITION_COLUMNS, REJECT_COLUMNS
from esteira.quarantine.transforms import field_type

_READER_OPTIONS = {"delimiter": "sep", "multiline": "multiLine"}
_NOT_READER_OPTIONS = {"sheet", "encoding"}
_UTF8 = {"utf-8", "utf8", "utf_8"}


def source_label(key: str, source: SourceSettings) -> str:
    return f"quarantine source {key} ({source.canal})"


def _native_s3(qs: QuarantineSettings, engine: str) -> bool:
    """Sail reads s3:// itself and JVM Spark s3a:// (hadoop-aws); `never` downloads."""
    return qs.s3_native != "never"


def read_source(
    session: SparkSession,
    qs: QuarantineSettings,
    engine: str,
    key: str,
    source: SourceSettings,
    stage_dir: Path,
) -> DataFrame:
    """Reads one source as it arrives and checks that its mapped columns exist."""
    label = source_label(key, source)
    location = qs.resolve(source)
    kind = remote.scheme(location)
    encoding = _encoding(source)
    if (
        kind in ("s3", "s3a")
        and source.format != "xlsx"
        and not encoding
        and _native_s3(qs, engine)
    ):
        keys = s3.list_keys(location, label)
        _, prefix = s3.split_url(location)
        path = location if keys == [prefix.rstrip("/")] else location.rstrip("/") + "/"
        if engine == "spark":  # hadoop-aws serves the s3a:// scheme
            path = "s3a://" + path.split("://", 1)[1]
            s3.use_s3a(session)
    else:
        path = str(
            remote.fetch(
                location,
                stage_dir / key,
                name=label,
                sftp_settings=qs.sftp,
                sharepoint_settings=qs.sharepoint,
            )
        )
    fmt = source.format
    if encoding and fmt in ("csv", "json"):
        path = str(to_utf8(Path(path), encoding, stage_dir / f"{key}.utf8", label))
    if fmt == "xlsx":
        path = str(
            excel.xlsx_to_parquet(
                Path(path),
                stage_dir / f"{key}.xlsx.parquet",
                sheet=source.options.get("sheet"),
                name=label,
            )
        )
        fmt = "parquet"
    elif fmt == "delta" and "://" not in path and not (Path(path) / "_delta_log").is_dir():
        raise InputError(label, f"{path} is not a Delta table (no _delta_log)")
    options = {
        _READER_OPTIONS.get(k.lower(), k): v
        for k, v in source.options.items()
        if k.lower() not in _NOT_READER_OPTIONS
    }
    df = read_table(session, path, fmt=fmt, options=options, name=label)  # type: ignore[arg-type]
    require_paths(df, source.required_columns(), label)
    return df


def _encoding(source: SourceSettings) -> str | None:
    """The source's text encoding when it is not UTF-8 (None for UTF-8 or unset)."""
    value = next((v for k, v in source.options.items() if k.lower() == "encoding"), None)
    return None if value is None or value.lower() in _UTF8 else value


def to_utf8(path: Path, encoding: str, dest: Path, label: str) -> Path:
    """Re-encodes a text file (or a folder's files) as UTF-8 into `dest`.

    Sail ignores the CSV/JSON `encoding` option, so both engines read a UTF-8 copy
    (e.g. exports in ISO-8859-1 / windows-1252).
    """
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(label, f"unknown encoding {encoding!r}") from None
    files = (
        [path]
        if path.is_file()
        else [
            p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith((".", "_"))
        ]
    )
    for file in files:
        target = dest / (file.name if path.is_file() else file.relative_to(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with (
                file.open(encoding=encoding, newline="") as src,
                target.open("w", encoding="utf-8", newline="") as out,
            ):
                shutil.copyfileobj(src, out, 1 << 20)
        except UnicodeDecodeError:
            raise InputError(label, f"{file.name} is not valid {encoding} text") from None
    return dest / path.name if path.is_file() else dest


def require_paths(df: DataFrame, paths: list[str], label: str) -> None:
    """Like require_columns, but dotted paths look inside nested records (JSON)."""
    schema = df.schema
    missing = [p for p in paths if field_type(schema, p) is None]
    if missing:
        raise MissingColumnError(label, missing, df.columns)


def new_stage_dir(qs: QuarantineSettings, load_date: date) -> Path:
    path = qs.staging / f"{load_date.isoformat()}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_stage_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def checkpoint(session: SparkSession, df: DataFrame, path: Path) -> DataFrame:
    """Writes `df` as Parquet and reads it back, so the sources are read exactly once.

    Snappy: a transient file, written once and read a few times (zstd was ~1.5x slower).
    """
    df.write.mode("overwrite").option("compression", "snappy").parquet(str(path))
    return session.read.parquet(str(path))


def write_for_date(df: DataFrame, path: Path, load_date: date) -> None:
    """Replaces the load date's partitions only (replaceWhere), in one Delta commit.

    Earlier dates stay as history; a rerun for the same date gives the same table.
    """
    if (path / "_delta_log").is_dir():
        delta.write(
            df,
            path,
            mode="overwrite",
            partition_by=PARTITION_COLUMNS,
            replace_where=f"data_carga = DATE'{load_date.isoformat()}'",
        )
    else:
        delta.write(df, path, mode="overwrite", partition_by=PARTITION_COLUMNS)


def read_quarantine(session: SparkSession, path: Path, load_date: date | None = None) -> DataFrame:
    """The quarantine table (one load date when given), columns in the documented order."""
    if not (path / "_delta_log").is_dir():
        raise InputError(
            "quarentena_global", f"no table at {path}; run `esteira quarantine build` first"
        )
    df = read_table(session, path, fmt="delta", name="quarentena_global").select(*OUTPUT_COLUMNS)
    if load_date is not None:
        df = df.filter(F.col("data_carga") == F.lit(load_date))
    return df


def read_rejects(session: SparkSession, path: Path) -> DataFrame:
    return read_table(session, path, fmt="delta", name="quarentena_rejeitados").select(
        *REJECT_COLUMNS
    )


def read_audience(session: SparkSession, path: Path, delimiter: str = ",") -> DataFrame:
    """A campaign list (csv or parquet) with an id_cliente column."""
    if not path.exists():
        raise InputError(f"audience {path}", "file does not exist")
    fmt = "parquet" if path.suffix.lower() == ".parquet" or path.is_dir() else "csv"
    options = {"sep": delimiter} if fmt == "csv" else {}
    return read_table(
        session, path, fmt=fmt, options=options, required=["id_cliente"], name=f"audience {path}"
    )


def write_single_file(df: DataFrame, out: Path, delimiter: str = ",") -> None:
    """Writes one .csv or .parquet file at `out` (Spark writes folders: move the part)."""
    fmt = "parquet" if out.suffix.lower() == ".parquet" else "csv"
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.tmp"
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = df.coalesce(1).write.mode("overwrite")
    try:
        if fmt == "csv":
            writer.option("header", "true").option("sep", delimiter).csv(str(tmp))
        else:
            writer.parquet(str(tmp))
        parts = sorted(p for p in tmp.rglob(f"*.{fmt}") if p.is_file())
        if fmt == "csv" and not parts:
            parts = sorted(p for p in tmp.rglob("part-*") if p.is_file())
        if not parts:  # an empty frame: some engines write no part file at all
            _write_empty(df, out, fmt, delimiter)
            return
        if len(parts) == 1:
            shutil.move(str(parts[0]), str(out))
        else:  # an engine may ignore coalesce(1): join the parts in order
            _concat_parts(parts, out, fmt)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _concat_parts(parts: list[Path], out: Path, fmt: str) -> None:
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.concat_tables([pq.read_table(p) for p in parts]), out)
        return
    with out.open("wb") as target:
        for i, part in enumerate(parts):
            with part.open("rb") as fh:
                if i > 0:
                    fh.readline()  # every part repeats the header
                shutil.copyfileobj(fh, target)


def _write_empty(df: DataFrame, out: Path, fmt: str, delimiter: str) -> None:
    if fmt == "csv":
        out.write_text(delimiter.join(df.columns) + "\n", encoding="utf-8")
    else:
        import pyarrow.parquet as pq

        pq.write_table(df.limit(0).toArrow(), out)
