"""`invoices averages`: read -> average -> check -> write, recorded in the run log."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from esteira.connectors.files import csv_line_of
from esteira.connectors.staging import StagingArea
from esteira.errors import ConfigError, InputError
from esteira.invoices import io, transforms
from esteira.invoices.config import InvoicesSettings
from esteira.invoices.io import OUTPUT_FORMATS, OutputFormat
from esteira.invoices.schemas import INPUT_COLUMNS, KEYS, average_column
from esteira.logs import step
from esteira.quality import FAILED, Expectation, QualityReport, flag_failures, rejected_rows
from esteira.runlog import Run, track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)
_MONTH = re.compile(r"^(\d{4})-(\d{2})(-01)?$")


@dataclass(frozen=True)
class AveragesRequest:
    """One run's options, already checked: `parse` builds it from the command's text.

    Without `rejects`, one bad row stops the run before anything is written, and the
    error names that row; with it, bad rows go to that CSV with the rule they broke.
    """

    input: str
    out: Path
    reference: date  # the first day of R, the month excluded from every window
    windows: tuple[int, ...]
    fmt: OutputFormat = "csv"
    rejects: Path | None = None

    @classmethod
    def parse(
        cls,
        defaults: InvoicesSettings,
        *,
        input: str | Path,
        out: str | Path,
        reference: str | None = None,
        windows: str | Sequence[int] | None = None,
        fmt: str = "csv",
        rejects: str | Path | None = None,
    ) -> AveragesRequest:
        """Options as typed (reference '2020-01', windows '3,6'); None takes conf's value."""
        if fmt not in OUTPUT_FORMATS:
            raise ConfigError(f"--format must be csv, parquet or delta, not {fmt!r}")
        return cls(
            input=str(input),
            out=Path(out),
            reference=_parse_reference(reference or defaults.reference),
            windows=_parse_windows(defaults.windows if windows is None else windows),
            fmt=fmt,  # type: ignore[arg-type]
            rejects=Path(rejects) if rejects else None,
        )


@dataclass
class AveragesResult:
    columns: list[str]
    preview: list[Row]
    accounts: int
    rows_read: int
    rejected: int
    out: Path
    rejects: Path | None = None
    windows: list[int] = field(default_factory=list)


def _parse_reference(text: str) -> date:
    """'2020-01' (or '2020-01-01') -> date(2020, 1, 1)."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ConfigError(f"--reference must be a month as YYYY-MM, not {text!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _parse_windows(text: str | Sequence[int]) -> tuple[int, ...]:
    """'3,6' -> (3, 6): positive month counts, in the order given, no repeats."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        windows = tuple(int(str(p).strip()) for p in parts if str(p).strip())
    except ValueError:
        raise ConfigError(f"--windows must be month counts like 3,6, not {text!r}") from None
    if not windows or any(n < 1 for n in windows) or len(set(windows)) != len(windows):
        raise ConfigError(f"--windows must be distinct positive month counts, not {text!r}")
    return windows


def run(settings: Settings, session: SparkSession, request: AveragesRequest) -> AveragesResult:
    """Averages of each account over the last N months before the reference month."""
    rules = transforms.invoice_rules("drop" if request.rejects else "fail")
    scratch = request.out.with_name(f".{request.out.name}.staging")
    with (
        track_run(settings.runs_file, "invoices.averages", settings.engine) as run,
        StagingArea(session, scratch, run.run_id) as stage,
    ):
        text = transforms.invoices_as_text(io.read_invoices(session, request.input))
        per_account = _average(stage, text, request, rules)
        report = _check(run, per_account, text, request, rules)
        _write(per_account, text, request, rules)
        result = _summarize(session, request, report, settings.invoices.preview_rows)
        if request.rejects:
            run.outputs["rejects"] = result.rejected
        run.outputs["averages"] = result.accounts
    log.info("%d accounts averaged, %d rows rejected", result.accounts, result.rejected)
    return result


def _average(
    stage: StagingArea, text: DataFrame, request: AveragesRequest, rules: list[Expectation]
) -> DataFrame:
    """Every window's sum and the rule counts per account, in one pass, staged."""
    months = ", ".join(map(str, request.windows))
    with step(f"Averaging the last {months} months per account"):
        per_account = transforms.account_windows(
            text, request.reference, request.windows, rules
        )
        return stage("per_account", per_account)


def _check(
    run: Run,
    per_account: DataFrame,
    text: DataFrame,
    request: AveragesRequest,
    rules: list[Expectation],
) -> QualityReport:
    """The rule counts of the averaging pass, recorded; without --rejects a bad row stops
    the run here, before anything is written."""
    counts = transforms.rule_counts(per_account, rules).collect()[0]
    report = QualityReport.from_counts(rules, counts.asDict())
    run.inputs["invoices"] = report.rows
    run.record_quality("invoices", report)
    if report.rejected and not request.rejects:
        raise _first_bad_row(request.input, flag_failures(text, rules), report)
    return report


def _write(
    per_account: DataFrame,
    text: DataFrame,
    request: AveragesRequest,
    rules: list[Expectation],
) -> None:
    """The rejects (when asked for), then the averages in the format asked for."""
    if request.rejects:
        with step("Writing rejected invoices"):
            bad = rejected_rows(flag_failures(text, rules), rules)
            io.write_rejects(bad, request.rejects)
    with step(f"Writing {request.fmt} {request.out}"):
        averages = transforms.averages(per_account, request.windows).orderBy(*KEYS)
        io.write_output(averages, request.out, request.fmt)


def _summarize(
    session: SparkSession, request: AveragesRequest, report: QualityReport, preview_rows: int
) -> AveragesResult:
    """What the command prints, read back from the output as written."""
    written = io.read_output(session, request.out, request.fmt)
    return AveragesResult(
        columns=[*KEYS, *(average_column(n) for n in request.windows)],
        preview=written.orderBy(*KEYS).limit(preview_rows).collect(),
        accounts=written.count(),
        rows_read=report.rows,
        rejected=report.rejected,
        out=request.out,
        rejects=request.rejects,
        windows=list(request.windows),
    )


def _first_bad_row(source: str, flagged: DataFrame, report: QualityReport) -> InputError:
    """The error for a run without --rejects: the first bad row by its line number (in a
    CSV file) and the rules it broke, which name its columns; never its values."""
    row = (
        flagged.filter(F.size(FAILED) > 0)
        .select(*INPUT_COLUMNS, F.array_join(FAILED, "; ").alias("why"))
        .limit(1)
        .collect()[0]
    )
    line = csv_line_of(source, {c: row[c] for c in INPUT_COLUMNS})
    where = f"line {line} (row {line - 1})" if line else "a row"
    broken = sum(1 for n in report.failures.values() if n)
    return InputError(
        source,
        f"{where}: {row['why']} ({report.rejected} bad row(s), {broken} rule(s) "
        "broken; pass --rejects PATH to set bad rows aside)",
    )
