"""The detailed notification report (Relatório Detalhado): one customer's messages.

Rendering is pure Python over rows (dicts), so the dashboard renders the same report
from rows it reads with delta-rs; the command reads silver with the engine
(`report_io`) and streams the rows here chunk by chunk, so memory stays bounded
whatever the number of messages. The file appears whole or not at all (written beside
its name, renamed over it). The report carries payload text by design: it goes only to
the file asked for, never to logs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from esteira.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from esteira.settings import Settings

FORMATS = ("txt", "csv", "jsonl")
REPORT_COLUMNS = (
    "message_id",
    "customer_id",
    "customer_name",
    "channel",
    "payload",
    "event_datetime",
)
_MEDIA = {
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
}


def iso_event_time(value: datetime) -> str:
    """2020-02-03T14:00:01.001+00:00, as the seed prints it: UTC with its offset,
    milliseconds (microseconds when the time has them)."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.isoformat(timespec=spec)


def render_report(
    rows: Iterable[Mapping[str, Any]], customer_name: str, fmt: str = "txt"
) -> Iterator[str]:
    """Yields the report as text chunks (header first, then one chunk per message) in
    the order the rows come: the caller sorts them by (event_datetime, message_id).
    event_datetime: a datetime (naive = UTC) or an ISO text already formatted."""
    yield render_header(customer_name, fmt)
    yield from render_rows(rows, fmt)


def render_header(customer_name: str, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}")
    if fmt == "txt":
        return f"= Cliente: {customer_name} =\n"
    return ",".join(REPORT_COLUMNS) + "\n" if fmt == "csv" else ""


def render_rows(rows: Iterable[Mapping[str, Any]], fmt: str) -> Iterator[str]:
    """One text chunk per message, in the layout of `fmt` (no header)."""
    if fmt == "txt":
        for r in rows:
            yield (
                f"Mensagem ID: {r['message_id']}\nPayload: “{r['payload']}”\n"
                f"Data hora: {_iso(r['event_datetime'])}\n"
            )
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for r in rows:
            writer.writerow([*(r[c] for c in REPORT_COLUMNS[:-1]), _iso(r["event_datetime"])])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    else:
        for r in rows:
            record = {c: r[c] for c in REPORT_COLUMNS[:-1]}
            record["event_datetime"] = _iso(r["event_datetime"])
            yield json.dumps(record, ensure_ascii=False) + "\n"


def _iso(value: datetime | str) -> str:
    return value if isinstance(value, str) else iso_event_time(value)


def render_table(table: pa.Table, fmt: str) -> str:
    """A chunk of rows (Arrow, REPORT_COLUMNS) as text, the same as `render_rows` gives
    for them; the txt layout is built column-wise in Arrow (a Python loop over millions
    of rows was most of a report's time)."""
    # the instants as naive UTC, then text: 'YYYY-MM-DD HH:MM:SS.ffffff' (Arrow's cast
    # of a zoned timestamp to text goes through the zone database, 100x slower)
    utc = table["event_datetime"].cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
    times = pc.replace_substring(pc.cast(utc, pa.string()), " ", "T", max_replacements=1)
    times = pc.if_else(pc.ends_with(times, "000"), pc.utf8_slice_codeunits(times, 0, 23), times)
    iso = pc.binary_join_element_wise(times, "+00:00", "")
    if fmt != "txt":
        rows = table.drop_columns(["event_datetime"]).append_column("event_datetime", iso)
        return "".join(render_rows(rows.to_pylist(), fmt))
    text = pc.binary_join_element_wise(
        "Mensagem ID: ",
        table["message_id"],
        "\nPayload: “",
        pc.fill_null(table["payload"], ""),
        "”\nData hora: ",
        iso,
        "\n",
        "",
    )
    return "".join(_utf8(chunk) for chunk in text.chunks)


def _utf8(strings: pa.StringArray) -> str:
    """A string array's values run together, straight from its data buffer."""
    if len(strings) == 0:
        return ""
    _, offsets, data = strings.buffers()
    bounds = pa.Array.from_buffers(
        pa.int32(), len(strings) + 1, [None, offsets], offset=strings.offset
    )
    start, end = bounds[0].as_py(), bounds[-1].as_py()
    return memoryview(data)[start:end].tobytes().decode("utf-8")


def media_type(fmt: str) -> str:
    return _MEDIA[fmt]


def report_filename(customer_id: int, day_or_range: str, fmt: str) -> str:
    """relatorio_7494212_2020-02-03.txt (a download's name)."""
    return f"relatorio_{int(customer_id)}_{day_or_range}.{fmt}"


def write_report(chunks: Iterable[str], path: Path) -> int:
    """Writes the chunks to `path` atomically (a temporary file beside it, renamed over
    it at the end; nothing is left behind on failure); returns the bytes written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    size = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            for chunk in chunks:
                fh.write(chunk)
                size += len(chunk)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return size


@dataclass(frozen=True)
class ReportRequest:
    customer: str  # a customer_id (digits) or a customer name (exact, any case)
    out: Path
    fmt: str = "txt"
    start: datetime | None = None  # UTC, inclusive
    end: datetime | None = None  # UTC, exclusive

    @classmethod
    def parse(
        cls,
        customer: str,
        out: Path,
        fmt: str = "txt",
        start: str | None = None,
        end: str | None = None,
        tz: str = "America/Sao_Paulo",
    ) -> ReportRequest:
        """--from/--to take an ISO date or date-time; without an offset they are local
        times in `tz`. A date in --to means through the end of that day."""
        if fmt not in FORMATS:
            raise ConfigError(f"--format must be one of {', '.join(FORMATS)}")
        if not customer.strip():
            raise ConfigError("--customer: give a customer_id or a customer name")
        begin = _instant(start, "--from", tz, end_of_day=False)
        finish = _instant(end, "--to", tz, end_of_day=True)
        if begin is not None and finish is not None and begin >= finish:
            raise ConfigError("--from must come before --to")
        return cls(customer.strip(), Path(out), fmt, begin, finish)


def _instant(text: str | None, option: str, tz: str, end_of_day: bool) -> datetime | None:
    if text is None:
        return None
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            moment = datetime.combine(day + timedelta(days=end_of_day), time(0))
        else:
            moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{option}: not an ISO date or date-time (e.g. 2020-02-03 or 2020-02-03T14:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class ReportResult:
    customer_id: int
    messages: int
    path: Path
    size: int


def run(
    settings: Settings,
    session: SparkSession,
    request: ReportRequest,
    on_progress: Callable[[int, int], None] | None = None,
) -> ReportResult:
    """Resolves the customer, counts the range, then streams silver's rows in
    event-time chunks into the file."""
    from esteira.notifications import report_io
    from esteira.runlog import track_run

    with track_run(settings.runs_file, "notifications.report", settings.engine) as rec:
        silver = report_io.silver(settings, session)
        customer_id, name = report_io.resolve_customer(
            silver, request.customer, report_io.silver_path(settings)
        )
        plan = report_io.plan_chunks(silver, customer_id, request.start, request.end)
        total = sum(n for _, _, n in plan)
        if total == 0:
            raise ConfigError(f"customer_id {customer_id}: no messages in the range asked")
        written = 0

        def chunks() -> Iterator[str]:
            nonlocal written
            yield render_header(name, request.fmt)
            for table in report_io.chunks(silver, customer_id, plan, total, on_progress):
                written += table.num_rows
                yield render_table(table, request.fmt)

        size = write_report(chunks(), request.out)
        rec.inputs["silver"] = total
        rec.outputs["report"] = written
    return ReportResult(customer_id, written, request.out, size)
