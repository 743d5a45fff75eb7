"""`invoices averages`: read -> check -> average -> write, recorded in the run log."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from esteira.errors import ConfigError, InputError
from esteira.invoices import io, transforms
from esteira.invoices.io import OutputFormat
from esteira.invoices.schemas import INPUT_COLUMNS, KEYS, average_column
from esteira.logs import step
from esteira.quality import (
    FAILED,
    Expectation,
    QualityReport,
    flag_failures,
    rejected_rows,
)
from esteira.runlog import track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)
_MONTH = re.compile(r"^(\d{4})-(\d{2})(-01)?$")


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


def parse_reference(text: str) -> date:
    """'2020-01' (or '2020-01-01') -> date(2020, 1, 1)."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ConfigError(f"--reference must be a month as YYYY-MM, not {text!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def parse_windows(text: str | Sequence[int]) -> list[int]:
    """'3,6' -> [3, 6]: positive month counts, in the order given, no repeats."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        windows = [int(str(p).strip()) for p in parts if str(p).strip()]
    except ValueError:
        raise ConfigError(f"--windows must be month counts like 3,6, not {text!r}") from None
    if not windows or any(n < 1 for n in windows) or len(set(windows)) != len(windows):
        raise ConfigError(f"--windows must be distinct positive month counts, not {text!r}")
    return windows


def run(
    settings: Settings,
    session: SparkSession,
    *,
    input: str | Path,
    out: str | Path,
    reference: str | None = None,
    windows: str | Sequence[int] | None = None,
    fmt: OutputFormat = "csv",
    rejects: str | Path | None = None,
) -> AveragesResult:
    """Averages of each account over the last N months before the reference month.

    Without `rejects`, one bad row stops the run before anything is written, and the
    error names that row; with it, bad rows go to that CSV with the rule they broke.
    """
    ref = parse_reference(reference or settings.invoices.reference)
    months = parse_windows(windows if windows is not None else settings.invoices.windows)
    if fmt not in ("csv", "parquet", "delta"):
        raise ConfigError(f"--format must be csv, parquet or delta, not {fmt!r}")
    source, out = str(input), Path(out)
    staging = out.with_name(f".{out.name}.staging")
    with track_run(settings.runs_file, "invoices.averages", settings.engine) as run:
        try:
            raw = io.read_invoices(session, source)
            rules = transforms.invoice_rules("drop" if rejects else "fail")
            text = transforms.invoices_as_text(raw)
            with step(f"Averaging the last {', '.join(map(str, months))} months per account"):
                io.write_staging(transforms.account_windows(text, ref, months, rules), staging)
            per_account = io.read_staging(session, staging)
            report = _quality(per_account, rules)
            run.inputs["invoices"] = report.rows
            run.record_quality("invoices", report)
            rejected = report.rows - report.good
            if rejected and not rejects:
                raise _first_bad_row(source, flag_failures(text, rules), report.failures)
            if rejects:
                with step("Writing rejected invoices"):
                    io.write_csv_file(
                        rejected_rows(flag_failures(text, rules), rules), Path(rejects)
                    )
                run.outputs["rejects"] = rejected
            with step(f"Writing {fmt} {out}"):
                io.write_output(transforms.averages(per_account, months).orderBy(*KEYS), out, fmt)
        finally:
            io.drop_staging(staging)
        written = io.read_output(session, out, fmt)
        accounts = written.count()
        preview = written.orderBy(*KEYS).limit(settings.invoices.preview_rows).collect()
        run.outputs["averages"] = accounts
    log.info("%d accounts averaged, %d rows rejected", accounts, rejected)
    return AveragesResult(
        columns=[*KEYS, *(average_column(n) for n in months)],
        preview=preview,
        accounts=accounts,
        rows_read=report.rows,
        rejected=rejected,
        out=out,
        rejects=Path(rejects) if rejects else None,
        windows=months,
    )


@dataclass
class _Checked(QualityReport):
    good: int = 0


def _quality(per_account: DataFrame, rules: list[Expectation]) -> _Checked:
    """The rule counts gathered by the averaging pass, as the run log records them."""
    row = transforms.rule_counts(per_account, rules).collect()[0]
    failures = {r.name: int(row[f"_rule_{i}"]) for i, r in enumerate(rules)}
    return _Checked(rows=int(row["_rows"]), failures=failures, rules=rules, good=int(row["_good"]))


def _first_bad_row(source: str, flagged: DataFrame, failures: dict[str, int]) -> InputError:
    """The error for a run without --rejects: the first bad row, by its own values."""
    row = (
        flagged.filter(F.size(FAILED) > 0)
        .select(*INPUT_COLUMNS, F.array_join(FAILED, "; ").alias("why"))
        .limit(1)
        .collect()[0]
    )
    where = ", ".join(f"{c}={_short(row[c])}" for c in INPUT_COLUMNS)
    broken = sum(1 for n in failures.values() if n)
    total = max(failures.values())
    return InputError(
        source,
        f"row ({where}): {row['why']} (at least {total} bad row(s), {broken} rule(s) broken; "
        "pass --rejects PATH to set bad rows aside)",
    )


def _short(value: object) -> str:
    text = "null" if value is None else repr(str(value))
    return text if len(text) <= 40 else text[:37] + "..."
