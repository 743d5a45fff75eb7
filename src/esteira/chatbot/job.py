"""`chatbot answers`: hourly JSON -> latest answers per session -> one table per flow.

Outputs under --out:
- answers/          Delta, the long table (customer, flow, session, key, value, answered_at)
- flows/<flow>/     Delta, one table per flow, one column per answer key
- csv/<flow>.csv    the same flow table as one CSV file
- rejects.csv       events that could not be used, with the rule they broke (or --rejects)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, Row, SparkSession

from esteira.chatbot import io, transforms
from esteira.chatbot.io import HourFile
from esteira.chatbot.schemas import REJECT_COLUMNS, SESSION_KEYS
from esteira.connectors.staging import StagingArea
from esteira.errors import ConfigError
from esteira.logs import step
from esteira.quality import (
    Expectation,
    QualityReport,
    flag_failures,
    measure,
    passed_rows,
    rejected_rows,
)
from esteira.runlog import Run, track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswersRequest:
    """One run's options, already checked: `parse` builds it from the command's text.
    Empty `hours` or `dates` means every hour file or date folder under `input`."""

    input: Path
    out: Path
    hours: tuple[int, ...] = ()
    dates: tuple[str, ...] = ()
    rejects: Path | None = None

    @property
    def rejects_file(self) -> Path:
        return self.rejects or self.out / "rejects.csv"

    @classmethod
    def parse(
        cls,
        *,
        input: str | Path,
        out: str | Path,
        hours: str | Sequence[int] | None = None,
        dates: str | Sequence[str] | None = None,
        rejects: str | Path | None = None,
    ) -> AnswersRequest:
        """Options as typed: hours '13,14', dates '2019-12-16,2019-12-17'."""
        return cls(
            input=Path(input),
            out=Path(out),
            hours=_parse_hours(hours),
            dates=_split(dates),
            rejects=Path(rejects) if rejects else None,
        )


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


def _parse_hours(text: str | Sequence[int] | None) -> tuple[int, ...]:
    """'13,14' -> (13, 14)."""
    parts = _split(text)
    try:
        hours = tuple(sorted({int(p) for p in parts}))
    except ValueError:
        raise ConfigError(f"--hours must be hours like 13,14, not {text!r}") from None
    if (text and not hours) or any(not 0 <= h <= 23 for h in hours):
        raise ConfigError(f"--hours must be hours from 0 to 23, not {text!r}")
    return hours


def _split(text: str | Sequence[object] | None) -> tuple[str, ...]:
    parts = (text or "").split(",") if isinstance(text, str | None) else list(text)
    return tuple(str(p).strip() for p in parts if str(p).strip())


def run(settings: Settings, session: SparkSession, request: AnswersRequest) -> AnswersResult:
    """Reads the hourly files, consolidates the answers and writes every table.

    The events are parsed once and staged; every table is written after all input was
    read. Unusable events go to the rejects file with the rule they broke, and the rest
    is processed; only a missing or empty input stops the run, before any table changes.
    """
    files = io.find_hour_files(request.input, request.hours, request.dates)
    log.info("%d hourly file(s): %s", len(files), ", ".join(f.source for f in files[:6]))
    rules = transforms.event_rules()
    with (
        track_run(settings.runs_file, "chatbot.answers", settings.engine) as run,
        StagingArea(session, request.out / "_staging", run.run_id) as stage,
    ):
        events = _read(session, stage, files, rules, settings.chatbot.reject_record_chars)
        report = _check(run, events, rules)
        per_session = _consolidate(stage, events, rules)
        _write_rejects(run, events, rules, request.rejects_file, report)
        answers = _write_long(run, session, per_session, request.out)
        flows = _write_flows(run, session, per_session, request.out, settings.chatbot.preview_rows)
    log.info("%d events, %d rejected, %d flows", report.rows, report.rejected, len(flows))
    return AnswersResult(
        len(files), report.rows, report.rejected, answers, request.rejects_file, flows
    )


def _read(
    session: SparkSession,
    stage: StagingArea,
    files: list[HourFile],
    rules: list[Expectation],
    record_chars: int,
) -> DataFrame:
    """Every event parsed and flagged once (staged: checks, rejects and answers reuse it)."""
    with step(f"Reading events of {len(files)} hourly file(s)"):
        flagged = flag_failures(transforms.parse_events(io.read_events(session, files)), rules)
        return stage("events", transforms.events_to_stage(flagged, record_chars))


def _check(run: Run, events: DataFrame, rules: list[Expectation]) -> QualityReport:
    """The rules' counts, per hourly file too: a file with rejected events (cut short in
    transfer, say) is named in a warning with the rules its events broke."""
    report = measure(events, rules, by="source")
    run.inputs["events"] = report.rows
    run.record_quality("events", report)
    for source, part in sorted(report.groups.items()):
        if part.rejected:
            broken = ", ".join(name for name, n in part.failures.items() if n)
            log.warning("%s: %d event(s) rejected (%s)", source, part.rejected, broken)
    return report


def _consolidate(stage: StagingArea, events: DataFrame, rules: list[Expectation]) -> DataFrame:
    """Latest answer of every key per session (staged: every table is built from it)."""
    with step("Consolidating answers per session"):
        answers = transforms.valid_answers(passed_rows(events, rules))
        return stage("answers", transforms.session_answers(answers))


def _write_rejects(
    run: Run, events: DataFrame, rules: list[Expectation], path: Path, report: QualityReport
) -> None:
    with step("Writing rejected events"):
        io.write_csv(rejected_rows(events, rules).select(*REJECT_COLUMNS), path)
    run.outputs["rejects"] = report.rejected


def _write_long(run: Run, session: SparkSession, per_session: DataFrame, out: Path) -> int:
    with step("Writing the long answers table"):
        io.write_table(transforms.long_answers(per_session), out / "answers")
    answers = io.read_delta(session, out / "answers").count()
    run.outputs["answers"] = answers
    return answers


def _write_flows(
    run: Run, session: SparkSession, per_session: DataFrame, out: Path, preview_rows: int
) -> list[FlowResult]:
    """One Delta table and one CSV file per flow; tables of flows this run did not see
    are removed, so that OUT describes this run only."""
    keys = _keys_per_flow(transforms.key_order(per_session).collect())
    flows = []
    for flow, flow_keys in keys.items():
        with step(f"Writing flow {flow} ({len(flow_keys)} answer keys)"):
            flows.append(_write_flow(session, per_session, out, flow, flow_keys, preview_rows))
        run.outputs[f"flow {flow}"] = flows[-1].sessions
    stale = io.remove_other_flows(out, {io.safe_name(f) for f in keys})
    if stale:
        log.info("removed %d flow table(s) of an earlier run", len(stale))
    return flows


def _keys_per_flow(rows: list[Row]) -> dict[str, list[str]]:
    """Keys of each flow in order of first appearance (time, then place in the event)."""
    ordered = sorted(rows, key=lambda r: (r["flow"], r["first_at"], r["first_pos"], r["key"]))
    keys: dict[str, list[str]] = {}
    for r in ordered:
        keys.setdefault(r["flow"], []).append(r["key"])
    return keys


def _write_flow(
    session: SparkSession,
    per_session: DataFrame,
    out: Path,
    flow: str,
    keys: list[str],
    preview_rows: int,
) -> FlowResult:
    name = io.safe_name(flow)
    delta, csv_file = out / "flows" / name, out / "csv" / f"{name}.csv"
    io.write_table(transforms.flow_table(per_session, flow, keys), delta)
    written = io.read_delta(session, delta)
    ordered = written.orderBy(*SESSION_KEYS)
    io.write_csv(ordered, csv_file)
    preview = ordered.limit(preview_rows).collect()
    return FlowResult(flow, written.columns, written.count(), preview, delta, csv_file)
