"""Quarantine jobs: build the daily table, check one client, filter a campaign list.

build: read every source (all of them, before anything is written) -> map to one shape
-> quality rules (drops to rejects, warnings counted) -> quarantine rules -> unique-key
check -> replace the load date's partitions of quarentena_global and of the rejects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import reduce
from pathlib import Path
from zoneinfo import ZoneInfo

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.errors import ConfigError, InputError
from esteira.logs import step
from esteira.quality import Expectation, QualityReport, flag_failures, passed_rows
from esteira.quarantine import io, transforms
from esteira.quarantine.config import QuarantineSettings
from esteira.runlog import track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)
KEY_RULE = Expectation("chave_unica", "(id_cliente, canal) unique per data_carga", "fail")


@dataclass
class ChannelCount:
    canal: str
    lidos: int = 0
    rejeitados: int = 0
    em_quarentena: int = 0


@dataclass
class BuildResult:
    load_date: date
    channels: list[ChannelCount]
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(c.em_quarentena for c in self.channels)


def today(settings: Settings) -> date:
    """The load date default: today in the company's time zone (America/Sao_Paulo)."""
    return datetime.now(ZoneInfo(settings.timezone)).date()


def _section(settings: Settings, sources_dir: Path | None) -> QuarantineSettings:
    qs = settings.quarantine
    if not qs.sources:
        raise ConfigError("quarantine.sources is empty: configure at least one source")
    return qs.model_copy(update={"sources_dir": sources_dir}) if sources_dir else qs


def read_sources(
    session: SparkSession, qs: QuarantineSettings, engine: str, load_date: date, stage: Path
) -> DataFrame:
    """Every source mapped to the common shape and unioned (all read before any write)."""
    frames = []
    for key, source in qs.sources.items():
        with step(f"Reading {source.canal} ({source.format})"):
            raw = io.read_source(session, qs, engine, key, source, stage)
            frames.append(
                raw.transform(lambda df, s=source: transforms.standardize(df, s)).transform(
                    lambda df: transforms.keep_snapshot(df, load_date)
                )
            )
    return reduce(DataFrame.unionByName, frames)


def run(
    settings: Settings,
    session: SparkSession,
    load_date: date | None = None,
    sources_dir: Path | None = None,
) -> BuildResult:
    """Builds quarentena_global for one load date (default: today in São Paulo)."""
    qs = _section(settings, sources_dir)
    day = load_date or today(settings)
    checks = transforms.rules(day)
    with track_run(settings.runs_file, "quarantine.build", settings.engine) as run_rec:
        stage = io.new_stage_dir(qs, day)
        try:
            contacts = read_sources(session, qs, settings.engine, day, stage)
            flagged = flag_failures(transforms.with_checks(contacts), checks).drop(
                "_email_ok", "_telefone_ok"
            )
            with step("Applying the quality rules"):
                flagged = io.checkpoint(session, flagged, stage / "_contatos")
                stats = transforms.channel_stats(flagged, checks).collect()
            report = QualityReport(
                rows=sum(int(r["lidos"]) for r in stats),
                failures={c.name: sum(int(r[f"r_{c.name}"] or 0) for r in stats) for c in checks},
                rules=checks,
            )
            run_rec.record_quality("quarantine", report)
            run_rec.inputs = {r["canal"]: int(r["lidos"]) for r in stats}
            report.raise_on_fail("quarantine")
            passed = passed_rows(flagged, checks)
            with step("Applying the quarantine rules"):
                quarantine = io.checkpoint(
                    session, transforms.build_quarantine(passed, day), stage / "_quarentena"
                )
            with step("Checking the (id_cliente, canal) key"):
                totals_rows = transforms.channel_totals(quarantine).collect()
            duplicated = sum(int(r["duplicadas"]) for r in totals_rows)
            key_report = QualityReport(
                rows=0, failures={KEY_RULE.name: duplicated}, rules=[KEY_RULE]
            )
            run_rec.record_quality("quarantine", key_report)
            key_report.raise_on_fail("quarentena_global")
            with step(f"Writing quarentena_global for {day.isoformat()}"):
                io.write_for_date(quarantine, qs.table, day)
                io.write_for_date(transforms.rejects(flagged, checks, day), qs.rejects, day)
            totals = {r["canal"]: int(r["em_quarentena"]) for r in totals_rows}
        finally:
            io.remove_stage_dir(stage)
        channels = []
        by_canal = {r["canal"]: r for r in stats}
        for source in qs.sources.values():
            row = by_canal.get(source.canal)
            channels.append(
                ChannelCount(
                    source.canal,
                    lidos=int(row["lidos"]) if row else 0,
                    rejeitados=int(row["rejeitados"] or 0) if row else 0,
                    em_quarentena=totals.get(source.canal, 0),
                )
            )
        run_rec.outputs = {"quarentena_global": sum(totals.values())}
        warnings = {c.name: report.failures[c.name] for c in checks if c.action == "warn"}
        return BuildResult(day, channels, warnings)


def check(
    settings: Settings, session: SparkSession, client_id: str, load_date: date | None = None
) -> tuple[date, list[dict]]:
    """The client's quarantine rows on the load date (empty: free to contact)."""
    day = load_date or today(settings)
    table = io.read_quarantine(session, settings.quarantine.table, day)
    if table.limit(1).count() == 0:
        raise InputError(
            "quarentena_global",
            f"no load for {day.isoformat()}; run `esteira quarantine build --date {day}`",
        )
    rows = table.filter(F.col("id_cliente") == F.lit(client_id.strip())).orderBy("canal").collect()
    return day, [r.asDict() for r in rows]


def filter_audience(
    settings: Settings,
    session: SparkSession,
    audience: Path,
    channel: str,
    out: Path,
    suppressed_out: Path,
    load_date: date | None = None,
    delimiter: str = ",",
) -> tuple[int, int]:
    """Splits a campaign list into who may be contacted on `channel` and who may not."""
    qs = settings.quarantine
    canais = {s.canal for s in qs.sources.values()}
    if channel not in canais:
        raise ConfigError(f"unknown channel {channel!r}; configured: {', '.join(sorted(canais))}")
    day = load_date or today(settings)
    with track_run(settings.runs_file, "quarantine.filter", settings.engine) as run_rec:
        people = io.read_audience(session, audience, delimiter)
        table = io.read_quarantine(session, qs.table, day)
        reasons = transforms.suppression_reasons(table, channel, qs.all_channel_canais)
        allowed, suppressed = transforms.split_audience(people, reasons)
        with step("Writing the campaign lists"):
            io.write_single_file(allowed, out, delimiter)
            io.write_single_file(suppressed, suppressed_out, delimiter)
        counts = (
            io.read_audience(session, out, delimiter).count(),
            io.read_audience(session, suppressed_out, delimiter).count(),
        )
        run_rec.inputs = {"audience": counts[0] + counts[1]}
        run_rec.outputs = {"liberados": counts[0], "suprimidos": counts[1]}
        return counts
