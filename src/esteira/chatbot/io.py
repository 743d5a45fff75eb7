"""Finding the hourly files, reading events, writing the answer tables and rejects.

The lake holds one file per hour, hour=HH.json, perhaps under date folders
(2019-12-16/hour=13.json or date=2019-12-16/hour=13.json). A file is a JSON array of
events or JSON lines; the first character tells which.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors import delta
from esteira.connectors.files import read_table, write_single_file
from esteira.errors import InputError

_HOUR_FILE = re.compile(r"^hour=(\d{1,2})\.json$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.=-]")


@dataclass(frozen=True)
class HourFile:
    path: Path
    source: str  # path relative to the input folder, as rejects name it
    hour: int
    is_array: bool


def find_hour_files(
    root: Path, hours: Sequence[int] | None = None, dates: Sequence[str] | None = None
) -> list[HourFile]:
    """hour=HH.json files under root (any depth), keeping only the hours and dates asked."""
    if not root.exists():
        raise InputError(str(root), "path does not exist")
    candidates = [root] if root.is_file() else sorted(root.rglob("hour=*.json"))
    files = []
    for path in candidates:
        match = _HOUR_FILE.match(path.name)
        if not match or not path.is_file():
            continue
        hour = int(match.group(1))
        folders = path.relative_to(root).parts[:-1] if path != root else ()
        if hours and hour not in hours:
            continue
        if dates and not any(f == d or f.endswith(f"={d}") for f in folders for d in dates):
            continue
        first = _first_char(path)
        if first is None:
            continue  # an empty hour: no events
        source = path.name if path == root else str(path.relative_to(root))
        files.append(HourFile(path, source, hour, first == "["))
    if not files:
        wanted = []
        if hours:
            wanted.append("hours " + ", ".join(f"{h:02d}" for h in hours))
        if dates:
            wanted.append("dates " + ", ".join(dates))
        scope = f" for {' and '.join(wanted)}" if wanted else ""
        raise InputError(str(root), f"no non-empty hour=HH.json files{scope}")
    return files


def _first_char(path: Path) -> str | None:
    with path.open("rb") as fh:
        while chunk := fh.read(4096):
            text = chunk.lstrip().lstrip(b"\xef\xbb\xbf").lstrip()
            if text:
                return chr(text[0])
    return None


def read_events(session: SparkSession, files: Sequence[HourFile]) -> DataFrame:
    """(source, record): one row per event text; an array file is split into elements.

    An array file that does not parse becomes one record holding the whole text, so it
    is rejected as invalid JSON with its file named.
    """
    parts = []
    for f in files:
        if f.is_array:
            # binaryFile, not text(wholetext=True): Sail splits a big file even then.
            # Sail may also return a file twice; one row per path is kept.
            whole = session.read.format("binaryFile").load(str(f.path))
            text = whole.dropDuplicates(["path"]).select(
                F.col("content").cast("string").alias("value")
            )
            elements = F.from_json(F.col("value"), "array<string>")
            rows = text.select(
                F.explode_outer(F.coalesce(elements, F.array(F.col("value")))).alias("record")
            )
        else:
            rows = session.read.text(str(f.path)).select(F.col("value").alias("record"))
            rows = rows.filter(F.trim("record") != "")
        parts.append(rows.select(F.lit(f.source).alias("source"), "record"))
    return reduce(DataFrame.unionByName, parts)


def safe_name(flow: str) -> str:
    """A flow id as a folder or file name."""
    return _SAFE_NAME.sub("_", flow) or "_"


def remove_other_flows(out: Path, kept: set[str]) -> list[str]:
    """Drops flow tables a previous run left that this run did not write.

    Every table under OUT describes one run; a flow missing from this run's input must
    not keep an older table beside the new ones.
    """
    removed = []
    for table in sorted((out / "flows").glob("*")):
        if table.is_dir() and table.name not in kept:
            shutil.rmtree(table)
            removed.append(table.name)
    for file in sorted((out / "csv").glob("*.csv")):
        if file.stem not in kept:
            file.unlink()
            removed.append(file.stem)
    return sorted(set(removed))


def read_delta(session: SparkSession, path: Path) -> DataFrame:
    return read_table(session, path, fmt="delta", name=str(path))


def write_table(df: DataFrame, path: Path) -> None:
    """A Delta table, replaced in one commit (earlier versions stay in its history)."""
    delta.write(df, path)


def write_csv(df: DataFrame, path: Path) -> None:
    """One CSV file in df's row order, appearing in one rename."""
    write_single_file(df, path)
