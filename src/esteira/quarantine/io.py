"""Reads the configured sources and writes the quarantine tables.

A source the engine cannot read where it is gets a local copy it can read, in the run's
downloads folder (`quarantine.downloads`): SFTP and SharePoint files, S3 for an engine
without an S3 reader, xlsx converted to Parquet, text re-encoded as UTF-8. The folder is
removed when the run ends. Every error names the source (its key and canal), never a
value from the data.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors import delta, excel, remote, s3
from esteira.connectors.files import read_table, write_single_file
from esteira.errors import InputError, MissingColumnError
from esteira.quarantine.config import QuarantineSettings, SourceSettings
from esteira.quarantine.schemas import OUTPUT_COLUMNS, PARTITION_COLUMNS, REJECT_COLUMNS
from esteira.quarantine.transforms import field_type

_READER_OPTIONS = {"delimiter": "sep", "multiline": "multiLine"}
_NOT_READER_OPTIONS = {"sheet", "encoding"}
_UTF8 = {"utf-8", "utf8", "utf_8"}
_S3_SCHEMES = ("s3", "s3a")


def source_label(key: str, source: SourceSettings, location: str | None = None) -> str:
    """How errors name a source: its key, canal and (when known) where it was read."""
    where = f" {_without_password(location)}" if location else ""
    return f"quarantine source {key} ({source.canal}){where}"


def _without_password(location: str) -> str:
    """A location as errors may show it: a password in the URL (user:pw@host) masked."""
    return re.sub(r"(://[^/:@]+):[^/@]*@", r"\1:***@", location)


def reads_s3_natively(mode: str, engine: str, jars: str) -> bool:
    """Whether an s3:// source is read where it is (`quarantine.s3_native`).

    auto: Sail reads s3:// itself; JVM Spark reads s3a:// only with hadoop-aws among
    its jars (`jars`: the session's spark.jars and spark.jars.packages), otherwise the
    source is downloaded. always: read in place (a missing reader fails the read);
    never: always download.
    """
    if mode != "auto":
        return mode == "always"
    return engine == "sail" or "hadoop-aws" in jars


def session_jars(session: SparkSession) -> str:
    """The jars a JVM session loads (spark.jars, spark.jars.packages), comma-separated."""
    found = []
    for key in ("spark.jars", "spark.jars.packages"):
        try:
            found.append(session.conf.get(key, "") or "")
        except Exception:  # a remote (Connect) server may refuse to show a static conf
            continue
    return ",".join(found)


@contextlib.contextmanager
def downloads_folder(root: Path, run_id: str) -> Iterator[Path]:
    """The run's folder for local copies of sources, removed when the run ends
    (whatever its outcome), with the root when no other run uses it."""
    folder = root / run_id
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            root.rmdir()


def read_source(
    session: SparkSession,
    qs: QuarantineSettings,
    engine: str,
    key: str,
    source: SourceSettings,
    downloads: Path,
) -> DataFrame:
    """Reads one source as it arrives and checks that its mapped columns exist.

    `downloads` is the run's folder for the local copies the engine needs.
    """
    label = source_label(key, source, qs.resolve(source))
    path, fmt = _readable(session, engine, qs, source, label, downloads / key)
    if fmt == "delta" and "://" not in path and not delta.exists(path):
        raise InputError(label, f"{path} is not a Delta table (no commits in _delta_log)")
    options = {
        _READER_OPTIONS.get(k.lower(), k): v
        for k, v in source.options.items()
        if k.lower() not in _NOT_READER_OPTIONS
    }
    df = read_table(session, path, fmt=fmt, options=options, name=label)  # type: ignore[arg-type]
    require_paths(df, source.required_columns(), label)
    return df


def _readable(
    session: SparkSession, engine: str, qs: QuarantineSettings, source: SourceSettings,
    label: str, copy: Path,
) -> tuple[str, str]:
    """Where, and in which format, the engine reads the source: in place, or a local
    copy at `copy` (downloaded; then xlsx as Parquet, text as UTF-8, beside it)."""
    location = qs.resolve(source)
    encoding = _encoding(source)
    on_s3 = remote.scheme(location) in _S3_SCHEMES
    if on_s3 and source.format != "xlsx" and not encoding:
        jars = session_jars(session) if engine == "spark" else ""
        if reads_s3_natively(qs.s3_native, engine, jars):
            return _s3_in_place(session, engine, location, label), source.format
    path = remote.fetch(
        location, copy, name=label, sftp_settings=qs.sftp, sharepoint_settings=qs.sharepoint
    )
    if source.format == "xlsx":
        parquet = copy.with_name(f"{copy.name}.xlsx.parquet")
        sheet = source.options.get("sheet")
        return str(excel.xlsx_to_parquet(path, parquet, sheet=sheet, name=label)), "parquet"
    if encoding and source.format in ("csv", "json"):
        path = to_utf8(path, encoding, copy.with_name(f"{copy.name}.utf8"), label)
    return str(path), source.format


def _s3_in_place(session: SparkSession, engine: str, location: str, label: str) -> str:
    """The location as the engine reads it: one object, or every object of a folder."""
    keys = s3.list_keys(location, label)
    _, prefix = s3.split_url(location)
    path = location if keys == [prefix.rstrip("/")] else location.rstrip("/") + "/"
    if engine == "spark":  # hadoop-aws serves the s3a:// scheme
        path = "s3a://" + path.split("://", 1)[1]
        s3.use_s3a(session)
    return path


def _encoding(source: SourceSettings) -> str | None:
    """The source's text encoding when it is not UTF-8 (None for UTF-8 or unset)."""
    value = next((v for k, v in source.options.items() if k.lower() == "encoding"), None)
    return None if value is None or value.lower() in _UTF8 else value


def to_utf8(path: Path, encoding: str, dest: Path, label: str) -> Path:
    """Re-encodes a text file (or a folder's files) as UTF-8 into `dest`.

    Sail ignores the CSV/JSON `encoding` option, so both engines read a UTF-8 copy
    (e.g. exports in ISO-8859-1 / windows-1252).
    """
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


def write_for_date(df: DataFrame, path: Path, load_date: date) -> None:
    """Replaces the load date's partitions only (replaceWhere), in one Delta commit.

    Earlier dates stay as history; a rerun for the same date gives the same table.
    """
    condition = f"data_carga = DATE'{load_date.isoformat()}'"
    delta.replace_where(df, path, condition, partition_by=PARTITION_COLUMNS)


def read_quarantine(session: SparkSession, path: Path, load_date: date | None = None) -> DataFrame:
    """The quarantine table (one load date when given), columns in the documented order."""
    if not delta.exists(path):
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


def write_list(df: DataFrame, path: Path, delimiter: str = ",") -> None:
    """A campaign list as one .csv (header, `delimiter`, ISO dates, empty for NULL) or
    .parquet file, chosen by the suffix; it appears in one rename."""
    write_single_file(df, path, delimiter=delimiter)


def read_audience(session: SparkSession, path: Path, delimiter: str = ",") -> DataFrame:
    """A campaign list (csv or parquet) with an id_cliente column."""
    if not path.exists():
        raise InputError(f"audience {path}", "file does not exist")
    fmt = "parquet" if path.suffix.lower() == ".parquet" or path.is_dir() else "csv"
    options = {"sep": delimiter} if fmt == "csv" else {}
    return read_table(
        session, path, fmt=fmt, options=options, required=["id_cliente"], name=f"audience {path}"
    )
