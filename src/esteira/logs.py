"""Logging set-up and progress display shared by every command.

Lines look like the seed's sample log (`2023-10-27 10:00:00 - INFO - ...`); with
`--log-format json` each record is one JSON object per line. Logs never carry CPF,
e-mail, phone numbers or message text: log counts and names, never values.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from rich.console import Console

console = Console(stderr=True)  # logs, progress and errors
output = Console(highlight=False)  # a command's result (tables, summaries): stdout
log = logging.getLogger("esteira")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if extra:
            payload.update(extra)
        return json.dumps(payload, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at emit time (pytest swaps it per test)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = _StderrHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s - %(levelname)s - %(message)s", "%Y-%m-%d %H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("esteira").setLevel(level)
    for noisy in ("py4j", "pyspark", "urllib3", "grpc"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


@contextmanager
def step(description: str) -> Iterator[None]:
    """Logs a step and shows a spinner while it runs (on a terminal only)."""
    log.info("%s...", description)
    start = time.perf_counter()
    if console.is_terminal:
        with console.status(f"[bold]{description}..."):
            yield
    else:
        yield
    log.info("%s: done in %.1fs", description, time.perf_counter() - start)
