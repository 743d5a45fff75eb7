"""`chatbot answers`: hourly JSON -> latest answers per session -> one table per flow.

Outputs under --out:
- answers/          Delta, the long table (customer, flow, session, key, value, answered_at)
- flows/<flow>/     Delta, one table per flow, one column per answer key
- csv/<flow>.csv    the same flow table as one CSV file
- rejects.csv       events that could not be used, with the rule they broke (or --rejects)
"""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, Row, SparkSession

from esteira.chatbot import io, transforms
from esteira.chatbot.schemas import REJECT_COLUMNS, SESSION_KEYS
from esteira.errors import ConfigError
from esteira.logs import step
from esteira.quality import flag_failures, measure, passed_rows, rejected_rows
from esteira.runlog import track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class FlowResult:
    flow: str
    columns: list[str]
    sessions: int
    preview: list[Row]
    delta: Path
    csv: Path


@dataclass
class AnswersResult:
    files: int
    events: int
    rejected: int
    answers: int
    rejects: Path
    flows: list[FlowResult] = field(default_factory=list)


def parse_hours(text: str | Sequence[int] | None) -> list[int] | None:
    """'13,14' -> [13, 14]."""
    if text is None or text == "":
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        hours = sorted({int(str(p).strip()) for p in parts if str(p).strip()})
    except ValueError:
        raise ConfigError(f"--hours must be hours like 13,14, not {text!r}") from None
    if not hours or any(not 0 <= h <= 23 for h in hours):
        raise ConfigError(f"--hours must be hours from 0 to 23, not {text!r}")
    return hours


def parse_dates(text: str | Sequence[str] | None) -> list[str] | None:
    if not text:
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    return [p.strip() for p in parts if p.strip()] or None


def run(
    settings: Settings,
    session: SparkSession,
    *,
    input: str | Path,
    out: str | Path,
    hours: str | Sequence[int] | None = None,
    dates: str | Sequence[str] | None = None,
    rejects: str | Path | None = None,
) -> AnswersResult:
    """Reads the hourly files, consolidates the answers and writes every table.

    The events are parsed once into a staging folder (OUT/_staging, removed at the end);
    every table is written after all input was read. Unusable events go to the rejects
    file with the rule they broke, and the rest is processed; only a missing or empty
    input stops the run, before any table changes.
    """
    root, out = Path(input), Path(out)
    rejects_path = Path(rejects) if rejects else out / "rejects.csv"
    files = io.find_hour_files(root, parse_hours(hours), parse_dates(dates))
    log.info("%d hourly file(s): %s", len(files), ", ".join(f.source for f in files[:6]))
    staging = out / "_staging"
    with track_run(settings.runs_file, "chatbot.answers", settings.engine) as run:
        try:
            raw = io.read_events(session, files)
            rules = transforms.event_rules()
            flagged = flag_failures(transforms.parse_events(raw), rules)
            cut = settings.chatbot.reject_record_chars
            with step(f"Reading events of {len(files)} hourly file(s)"):
                io.write_staging(transforms.events_to_stage(flagged, cut), staging / "events")
            events = io.read_parquet(session, staging / "events")
            report = measure(events, rules)
            run.inputs["events"] = report.rows
            run.record_quality("events", report)
            per_session = transforms.session_answers(
                transforms.valid_answers(passed_rows(events, rules))
            )
            with step("Consolidating answers per session"):
                io.write_staging(per_session, staging / "answers")
            staged = io.read_parquet(session, staging / "answers")
            with step("Writing rejected events"):
                io.write_csv(rejected_rows(events, rules).select(*REJECT_COLUMNS), rejects_path)
            with rejects_path.open(encoding="utf-8", newline="") as fh:
                rejected = sum(1 for _ in csv.reader(fh)) - 1
            run.outputs["rejects"] = rejected
            with step("Writing the long answers table"):
                io.write_table(transforms.long_answers(staged), out / "answers")
            answers = io.read_delta(session, out / "answers").count()
            run.outputs["answers"] = answers
            keys = _keys_per_flow(transforms.key_order(staged).collect())
            result = AnswersResult(len(files), report.rows, rejected, answers, rejects_path)
            for flow, flow_keys in keys.items():
                with step(f"Writing flow {flow} ({len(flow_keys)} answer keys)"):
                    result.flows.append(
                        _write_flow(session, settings, staged, out, flow, flow_keys)
                    )
                run.outputs[f"flow {flow}"] = result.flows[-1].sessions
            stale = io.remove_other_flows(out, {io.safe_name(f) for f in keys})
            if stale:
                log.info("removed %d flow table(s) of an earlier run", len(stale))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("%d events, %d rejected, %d flows", report.rows, rejected, len(result.flows))
    return result


def _keys_per_flow(rows: list[Row]) -> dict[str, list[str]]:
    """Keys of each flow in order of first appearance (time, then place in the event)."""
    ordered = sorted(rows, key=lambda r: (r["flow"], r["first_at"], r["first_pos"], r["key"]))
    keys: dict[str, list[str]] = {}
    for r in ordered:
        keys.setdefault(r["flow"], []).append(r["key"])
    return keys


def _write_flow(
    session: SparkSession,
    settings: Settings,
    staged: DataFrame,
    out: Path,
    flow: str,
    keys: list[str],
) -> FlowResult:
    name = io.safe_name(flow)
    delta, csv_file = out / "flows" / name, out / "csv" / f"{name}.csv"
    io.write_table(transforms.flow_table(staged, flow, keys), delta)
    written = io.read_delta(session, delta)
    ordered = written.orderBy(*SESSION_KEYS)
    io.write_csv(ordered, csv_file)
    preview = ordered.limit(settings.chatbot.preview_rows).collect()
    return FlowResult(flow, written.columns, written.count(), preview, delta, csv_file)
