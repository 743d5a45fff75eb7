"""The run log: one JSON line per pipeline run, listed by `esteira runs`.

Each record holds the pipeline, engine, start/end time, status, input/output row counts
and the failure count of every data-quality rule. Errors are stored as our own one-line
messages, which never carry personal data.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from esteira import alerts
from esteira.errors import EsteiraError, first_line
from esteira.quality import QualityReport


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Run:
    pipeline: str
    engine: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: str = field(default_factory=_now)
    ended_at: str | None = None
    status: str = "running"
    seconds: float | None = None
    inputs: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def record_quality(self, source: str, report: QualityReport) -> None:
        """Records a report's rule counts (as `source.rule`) and adds the rows it set aside
        to `source`'s (a job may check one source in two passes)."""
        for name, value in report.as_dict().items():
            self.rules[f"{source}.{name}"] = value
        self.rejected[source] = self.rejected.get(source, 0) + report.rejected
        alerts.check_rejected_share(self.pipeline, self.run_id, source, report.rows,
                                    report.rejected)


_collectors: list[list[Run]] = []


@contextmanager
def collect_runs() -> Iterator[list[Run]]:
    """The runs that finish in this process while inside (`esteira run` counts a step's
    rows from them; the run log file may be shared by other processes)."""
    seen: list[Run] = []
    _collectors.append(seen)
    try:
        yield seen
    finally:
        _collectors.remove(seen)


@contextmanager
def track_run(runs_file: Path, pipeline: str, engine: str) -> Iterator[Run]:
    """Records a run whatever its outcome; the exception, if any, propagates."""
    run = Run(pipeline=pipeline, engine=engine)
    start = time.perf_counter()
    try:
        yield run
        run.status = "succeeded"
    except BaseException as exc:
        run.status = "failed"
        # our errors name files, rows and columns; anything else may quote data: its class
        run.error = first_line(exc) if isinstance(exc, EsteiraError) else exc.__class__.__name__
        raise
    finally:
        run.ended_at = _now()
        run.seconds = round(time.perf_counter() - start, 3)
        append_run(runs_file, run)
        for seen in _collectors:
            seen.append(run)
        if run.status == "failed" and run.error != "KeyboardInterrupt":
            alerts.send("run_failed", f"{pipeline} failed: {run.error}", pipeline=pipeline,
                        run_id=run.run_id, engine=engine, error=run.error)


def append_run(runs_file: Path, run: Run) -> None:
    runs_file.parent.mkdir(parents=True, exist_ok=True)
    with runs_file.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(run), ensure_ascii=False) + "\n")


def read_runs(runs_file: Path) -> list[dict[str, Any]]:
    if not runs_file.is_file():
        return []
    runs = []
    for line in runs_file.read_text(encoding="utf-8").splitlines():
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process
    return runs


def runs_command(
    last: Annotated[int, typer.Option(help="how many of the most recent runs")] = 20,
    pipeline: Annotated[str | None, typer.Option(help="only this pipeline")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    from esteira.cli_common import settings
    from esteira.logs import output as console

    runs = [r for r in read_runs(settings().runs_file) if not pipeline or r["pipeline"] == pipeline]
    runs = runs[-last:]
    if as_json:
        for r in runs:
            typer.echo(json.dumps(r, ensure_ascii=False))
        return
    if not runs:
        console.print("no runs recorded yet")
        return
    table = Table(title="esteira runs")
    for col in ("started (UTC)", "pipeline", "engine", "status", "s", "in", "out", "rejected",
                "rules"):
        table.add_column(col)
    for r in runs:
        failed_rules = sum(1 for v in r.get("rules", {}).values() if v.get("failed"))
        table.add_row(
            r["started_at"], r["pipeline"], r["engine"], r["status"],
            f"{r.get('seconds') or 0:.1f}",
            str(sum(r.get("inputs", {}).values())), str(sum(r.get("outputs", {}).values())),
            str(sum((r.get("rejected") or {}).values())),
            f"{failed_rules}/{len(r.get('rules', {}))} broken",
        )
    console.print(table)
