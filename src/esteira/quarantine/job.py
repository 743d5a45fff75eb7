"""Quarantine jobs: build the daily table, check one client, filter a campaign list.

build: read every source (all of them, before anything is written) -> map to one shape
-> quality rules (drops to rejects, warnings counted) -> quarantine rules -> unique-key
check -> replace the load date's partitions of quarentena_global and of the rejects.
The checked contacts and the quarantine are staged once (StagingArea), so each source is
read exactly once and every count and write reads the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import reduce
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors.staging import StagingArea
from esteira.errors import ConfigError, InputError
from esteira.logs import step
from esteira.quality import Expectation, QualityReport, flag_failures, measure, passed_rows
from esteira.quarantine import io, transforms
from esteira.quarantine.config import QuarantineSettings
from esteira.runlog import track_run
from esteira.settings import Settings


def today(settings: Settings) -> date:
    """The load date default: today in the company's time zone (America/Sao_Paulo)."""
    return datetime.now(ZoneInfo(settings.timezone)).date()


def parse_load_date(settings: Settings, value: str | None) -> date:
    """`--date` as AAAA-MM-DD; today in São Paulo when not given."""
    if value is None:
        return today(settings)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError("--date", f"{value!r} is not a date (use AAAA-MM-DD)") from None


@dataclass(frozen=True)
class BuildRequest:
    """One build: the load date and, optionally, another folder of the local sources."""

    load_date: date
    sources_dir: Path | None = None

    @classmethod
    def parse(
        cls, settings: Settings, load_date: str | None = None, sources_dir: Path | None = None
    ) -> BuildRequest:
        return cls(parse_load_date(settings, load_date), sources_dir)


@dataclass(frozen=True)
class ChannelCount:
    canal: str
    lidos: int = 0
    rejeitados: int = 0
    em_quarentena: int = 0


@dataclass(frozen=True)
class BuildResult:
    load_date: date
    channels: list[ChannelCount]
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(c.em_quarentena for c in self.channels)


@dataclass(frozen=True)
class CheckRequest:
    """One client's quarantine on a load date."""

    client_id: str
    load_date: date

    @classmethod
    def parse(
        cls, settings: Settings, client_id: str, load_date: str | None = None
    ) -> CheckRequest:
        return cls(client_id.strip(), parse_load_date(settings, load_date))


@dataclass(frozen=True)
class CheckResult:
    load_date: date
    rows: list[dict[str, Any]]  # the client's rows of quarentena_global; empty: free

    @property
    def in_quarantine(self) -> bool:
        return bool(self.rows)


@dataclass(frozen=True)
class FilterRequest:
    """A campaign list split by the quarantine of `channel` on the load date."""

    audience: Path
    channel: str
    out: Path
    suppressed_out: Path
    load_date: date
    delimiter: str = ","

    @classmethod
    def parse(
        cls,
        settings: Settings,
        *,
        audience: Path,
        channel: str,
        out: Path,
        suppressed_out: Path,
        load_date: str | None = None,
        delimiter: str = ",",
    ) -> FilterRequest:
        """Refuses a channel no source feeds (its campaign would suppress no one)."""
        canais = {s.canal for s in settings.quarantine.sources.values()}
        if channel not in canais:
            known = ", ".join(sorted(canais))
            raise ConfigError(f"unknown channel {channel!r}; configured: {known}")
        day = parse_load_date(settings, load_date)
        return cls(audience, channel, out, suppressed_out, day, delimiter)


@dataclass(frozen=True)
class FilterResult:
    allowed: int
    suppressed: int


def run(settings: Settings, session: SparkSession, request: BuildRequest) -> BuildResult:
    """Builds quarentena_global (and the rejects) for the request's load date."""
    qs = _section(settings, request.sources_dir)
    day = request.load_date
    checks = transforms.rules(day)
    with (
        track_run(settings.runs_file, "quarantine.build", settings.engine) as run_rec,
        StagingArea(session, qs.staging, run_rec.run_id) as stage,
        io.downloads_folder(qs.downloads, run_rec.run_id) as downloads,
    ):
        contacts = _read(session, qs, settings.engine, day, downloads)
        flagged, quality = _check(stage, contacts, checks)
        run_rec.record_quality("quarantine", quality)
        quality.raise_on_fail("quarantine")
        quarantine, keys = _quarantine(stage, flagged, checks, day)
        run_rec.record_quality("quarantine", keys)
        keys.raise_on_fail("quarentena_global")
        _write(qs, quarantine, transforms.rejects(flagged, checks, day), day)
        run_rec.inputs = {canal: report.rows for canal, report in quality.groups.items()}
        run_rec.outputs = {"quarentena_global": keys.rows}
    return _result(qs, day, quality, keys)


def _section(settings: Settings, sources_dir: Path | None) -> QuarantineSettings:
    qs = settings.quarantine
    if not qs.sources:
        raise ConfigError("quarantine.sources is empty: configure at least one source")
    return qs.model_copy(update={"sources_dir": sources_dir}) if sources_dir else qs


def _read(
    session: SparkSession, qs: QuarantineSettings, engine: str, day: date, downloads: Path
) -> DataFrame:
    """Every source mapped to the common shape and unioned (all read before any write)."""
    frames = []
    for key, source in qs.sources.items():
        with step(f"Reading {source.canal} ({source.format})"):
            raw = io.read_source(session, qs, engine, key, source, downloads)
            frames.append(
                raw.transform(lambda df, s=source: transforms.standardize(df, s)).transform(
                    lambda df: transforms.keep_snapshot(df, day)
                )
            )
    return reduce(DataFrame.unionByName, frames)


def _check(
    stage: StagingArea, contacts: DataFrame, checks: list[Expectation]
) -> tuple[DataFrame, QualityReport]:
    """The contacts flagged by the quality rules (staged: the sources are read here,
    once) and the rules' failures, per canal in `groups`."""
    with step("Applying the quality rules"):
        flagged = flag_failures(transforms.with_checks(contacts), checks)
        flagged = stage("contatos", flagged.drop("_email_ok", "_telefone_ok"))
        return flagged, measure(flagged, checks, by="canal")


def _quarantine(
    stage: StagingArea, flagged: DataFrame, checks: list[Expectation], day: date
) -> tuple[DataFrame, QualityReport]:
    """Who is in quarantine (staged) and its key check (rows per canal in `groups`)."""
    with step("Applying the quarantine rules"):
        passed = passed_rows(flagged, checks)
        quarantine = stage("quarentena", transforms.build_quarantine(passed, day))
    with step("Checking the (id_cliente, canal) key"):
        rows = [r.asDict() for r in transforms.key_counts(quarantine).collect()]
        keys = QualityReport.from_groups([transforms.KEY_RULE], rows, "canal")
    return quarantine, keys


def _write(qs: QuarantineSettings, quarantine: DataFrame, rejects: DataFrame, day: date) -> None:
    with step(f"Writing quarentena_global for {day.isoformat()}"):
        io.write_for_date(quarantine, qs.table, day)
        io.write_for_date(rejects, qs.rejects, day)


def _result(
    qs: QuarantineSettings, day: date, quality: QualityReport, keys: QualityReport
) -> BuildResult:
    """Per configured source: rows read, rejected (a drop rule broken) and in quarantine."""
    none = QualityReport.from_counts(quality.rules, {})
    channels = []
    for source in qs.sources.values():
        read = quality.groups.get(source.canal, none)
        held = keys.groups.get(source.canal)
        channels.append(
            ChannelCount(source.canal, read.rows, read.rejected, held.rows if held else 0)
        )
    warnings = {r.name: quality.failures[r.name] for r in quality.rules if r.action == "warn"}
    return BuildResult(day, channels, warnings)


def check(settings: Settings, session: SparkSession, request: CheckRequest) -> CheckResult:
    """The client's quarantine rows on the load date (empty: free to contact)."""
    day = request.load_date
    table = io.read_quarantine(session, settings.quarantine.table, day)
    if table.limit(1).count() == 0:
        raise InputError(
            "quarentena_global",
            f"no load for {day.isoformat()}; run `esteira quarantine build --date {day}`",
        )
    client = F.col("id_cliente") == F.lit(request.client_id)
    rows = table.filter(client).orderBy("canal").collect()
    return CheckResult(day, [r.asDict() for r in rows])


def filter_audience(
    settings: Settings, session: SparkSession, request: FilterRequest
) -> FilterResult:
    """Splits a campaign list into who may be contacted on the channel and who may not."""
    qs = settings.quarantine
    delimiter = request.delimiter
    with track_run(settings.runs_file, "quarantine.filter", settings.engine) as run_rec:
        people = io.read_audience(session, request.audience, delimiter)
        table = io.read_quarantine(session, qs.table, request.load_date)
        reasons = transforms.suppression_reasons(table, request.channel, qs.all_channel_canais)
        allowed, suppressed = transforms.split_audience(people, reasons)
        with step("Writing the campaign lists"):
            io.write_list(allowed, request.out, delimiter)
            io.write_list(suppressed, request.suppressed_out, delimiter)
        result = FilterResult(  # counted in the files written
            io.read_audience(session, request.out, delimiter).count(),
            io.read_audience(session, request.suppressed_out, delimiter).count(),
        )
        run_rec.inputs = {"audience": result.allowed + result.suppressed}
        run_rec.outputs = {"liberados": result.allowed, "suprimidos": result.suppressed}
    return result
