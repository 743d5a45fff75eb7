"""CSV export -> the orders topic (issue 16, item 4).

Key pedido_id (an order's events stay in order in one partition), value a JSON object
with the canonical columns (values as exported: the consumer normalises and validates),
Kafka's idempotent producer (acks=all). A row that cannot even be parsed (a field count
other than the header's, bytes that are not UTF-8, no pedido_id) is reported by its line
number, never its values, and goes to the dead-letter topic as it was in the file, with
the file and line in its headers. Plain Python: the CSV is read once, in order.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from esteira.connectors import kafka, kafka_topics
from esteira.errors import ConfigError, InputError, ServiceError
from esteira.logs import console
from esteira.orders import transforms
from esteira.orders.config import OrdersSettings
from esteira.orders.schemas import REQUIRED

log = logging.getLogger(__name__)
UNPARSEABLE = "linha_csv_ilegivel"
DLQ_FILE, DLQ_LINE = "esteira.arquivo", "esteira.linha"
MAX_LINES_LISTED = 20


@dataclass(frozen=True)
class ProduceRequest:
    csv: Path
    topic: str
    rate: float | None = None  # messages per second; None: as fast as the broker takes

    @classmethod
    def parse(cls, csv_path: Path, topic: str | None, rate: float | None,
              cfg: OrdersSettings) -> ProduceRequest:
        if not csv_path.is_file():
            raise ConfigError(f"{csv_path}: no such file")
        if rate is not None and rate <= 0:
            raise ConfigError("--rate must be a positive number of messages per second")
        return cls(csv_path, topic or cfg.topic, rate)


@dataclass
class ProduceResult:
    rows: int = 0
    delivered: int = 0
    failed: int = 0
    unparseable_lines: list[int] = field(default_factory=list)
    dead_letters: int = 0


class _Counter:
    def __init__(self, result: ProduceResult) -> None:
        self.result = result

    def __call__(self, err, _msg) -> None:
        if err is None:
            self.result.delivered += 1
        else:
            self.result.failed += 1


def produce(bootstrap: str, cfg: OrdersSettings, request: ProduceRequest,
            show_progress: bool = True) -> ProduceResult:
    """Sends every row of the export; returns delivered/failed counts and broken lines."""
    layout = _layout(request.csv, cfg)
    kafka_topics.ensure_topic(bootstrap, request.topic, cfg.partitions)
    kafka_topics.ensure_topic(bootstrap, cfg.dlq_topic, 1)
    result = ProduceResult()
    client = kafka.bulk_producer(bootstrap)
    counted = _Counter(result)
    dead: list[tuple[bytes | None, bytes, kafka.Headers]] = []
    total = _count_lines(request.csv)
    started = time.monotonic()
    with _progress(show_progress) as bar:
        task = bar.add_task(f"{request.csv.name} -> {request.topic}", total=total)
        for line, row in _rows(request.csv, layout):
            bar.advance(task)
            if isinstance(row, bytes):
                result.unparseable_lines.append(line)
                dead.append((None, row, [
                    (DLQ_FILE, request.csv.name), (DLQ_LINE, str(line)),
                    ("__connect.errors.exception.message", UNPARSEABLE), ("esteira.regra",
                                                                          UNPARSEABLE)]))
                continue
            result.rows += 1
            kafka.send(client, request.topic, row["pedido_id"].encode(),
                       json.dumps(row, ensure_ascii=False).encode(), counted)
            if request.rate:
                _pace(started, result.rows, request.rate, client)
        remaining = client.flush(60)
    result.failed += remaining
    for line in result.unparseable_lines[:MAX_LINES_LISTED]:
        log.warning("%s, line %d: cannot be parsed (not sent; to the dead-letter topic)",
                    request.csv.name, line)
    if dead:
        result.dead_letters = kafka.produce_with_headers(bootstrap, cfg.dlq_topic, dead)
    return result


@dataclass(frozen=True)
class _Layout:
    delimiter: str
    width: int
    positions: list[tuple[int, str]]  # (field index, canonical column)


def _layout(path: Path, cfg: OrdersSettings) -> _Layout:
    """The header: delimiter, width, which field is which column (checked before any
    message is sent: a missing required column sends nothing)."""
    with path.open("rb") as fh:
        head = fh.readline()
    try:
        header_text = head.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InputError(str(path), "line 1 (header) is not UTF-8 text") from None
    delimiter = ";" if header_text.count(";") > header_text.count(",") else ","
    header = next(csv.reader([header_text], delimiter=delimiter), [])
    mapping = transforms.header_mapping(header, cfg.columns)
    missing = [c for c in REQUIRED if c not in mapping.values()]
    if missing:
        raise InputError(str(path), f"line 1 (header): missing column(s) "
                         f"{', '.join(missing)}; found {', '.join(header) or 'none'}")
    return _Layout(delimiter, len(header),
                   [(i, mapping[name]) for i, name in enumerate(header) if name in mapping])


def _rows(path: Path, layout: _Layout) -> Iterator[tuple[int, dict[str, str] | bytes]]:
    """(line number, canonical row) or (line number, the raw bytes of a broken record)."""
    with path.open("rb") as fh:
        fh.readline()
        for number, raw in enumerate(fh, start=2):
            if not raw.strip():
                continue
            parsed = _parse_line(raw, layout.delimiter, layout.width)
            row = None if parsed is None else {c: parsed[i] for i, c in layout.positions}
            if row is None or not row.get("pedido_id", "").strip():
                yield number, raw.rstrip(b"\r\n")
                continue
            yield number, row


def _parse_line(raw: bytes, delimiter: str, width: int) -> list[str] | None:
    """One physical line as fields; None when it is not UTF-8 or has the wrong width.
    (Orders exports hold no line breaks inside fields: one record per line.)"""
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
        fields = next(csv.reader([text], delimiter=delimiter, strict=True))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    return fields if len(fields) == width else None


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def _pace(started: float, sent: int, rate: float, client) -> None:
    ahead = sent / rate - (time.monotonic() - started)
    if ahead > 0:
        client.poll(ahead)


def _progress(show: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console, disable=not show, transient=True)


def require_delivered(result: ProduceResult, topic: str) -> None:
    if result.failed:
        raise ServiceError(f"producing to Kafka topic {topic}: {result.failed} messages were "
                           f"not delivered ({result.delivered} were)")
