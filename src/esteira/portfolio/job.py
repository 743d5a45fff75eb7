"""`esteira portfolio assign`: read -> clean -> plan -> deal -> check -> write."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors.staging import StagingArea
from esteira.errors import ConfigError
from esteira.logs import step
from esteira.portfolio import checks, io
from esteira.portfolio import transforms as t
from esteira.portfolio.config import PortfolioSettings
from esteira.quality import QualityReport
from esteira.runlog import Run, track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssignRequest:
    """One distribution, its defaults already resolved (`parse` takes them from settings)."""

    clients: str
    managers: str
    out: Path
    seed: int
    limit: int
    previous: str | None = None

    @classmethod
    def parse(
        cls,
        defaults: PortfolioSettings,
        clients: str,
        managers: str,
        out: Path,
        previous: str | None = None,
        seed: int | None = None,
        limit: int | None = None,
    ) -> AssignRequest:
        """A request from the command's options; seed and limit default to the settings."""
        if limit is not None and limit < 1:
            raise ConfigError(f"--limit must be at least 1 client per manager, not {limit}")
        return cls(
            clients=clients,
            managers=managers,
            out=Path(out),
            seed=defaults.seed if seed is None else seed,
            limit=defaults.limit_clients if limit is None else limit,
            previous=previous,
        )


@dataclass(frozen=True)
class KeyLoad:
    """One chave_unica: its managers, their clients, the lightest and heaviest load."""

    chave_unica: str
    gerentes: int
    clientes: int
    carga_min: int
    carga_max: int


@dataclass(frozen=True)
class AssignResult:
    """What a run did. `summary()` is summary.json: every field but `out` and `run_id`."""

    clients_read: int
    clients_dropped_null_key: int
    rejected: int
    managers_rejected: int
    assigned: int
    unassigned: int
    unassigned_by_reason: dict[str, int]
    kept: int
    moved: int
    new: int
    managers_read: int
    load_min: int | None
    load_max: int | None
    load_spread: int
    per_key: list[KeyLoad]
    seed: int
    limit: int
    inputs: dict[str, str | None]
    out: Path
    run_id: str

    def summary(self) -> dict[str, Any]:
        fields = asdict(self)
        del fields["out"], fields["run_id"]
        return fields


@dataclass(frozen=True)
class _Inputs:
    clients: DataFrame
    managers: DataFrame
    previous: DataFrame | None


def run(settings: Settings, session: SparkSession, request: AssignRequest) -> AssignResult:
    """Assigns every valid client to one manager of its key; writes nothing unless every
    check of the assignment holds."""
    with track_run(settings.runs_file, "portfolio.assign", settings.engine) as record:
        inputs = _read(session, request)
        with StagingArea(session, request.out / io.STAGING, record.run_id) as stage:
            frames = _compute(inputs, request, stage)
            _check(frames, record)
            result = _summarize(frames, inputs.clients, request, record.run_id)
            _write(frames, result)
        record.inputs = {"clients": result.clients_read, "managers": result.managers_read}
        record.outputs = {
            "assigned": result.assigned,
            "unassigned": result.unassigned,
            "rejected": result.rejected,
        }
    return result


def _read(session: SparkSession, request: AssignRequest) -> _Inputs:
    with step("Reading clients and managers"):
        return _Inputs(
            io.read_clients(session, request.clients),
            io.read_managers(session, request.managers),
            io.read_previous(session, request.previous) if request.previous else None,
        )


def _compute(inputs: _Inputs, request: AssignRequest, stage: StagingArea) -> dict[str, DataFrame]:
    with step("Computing the assignment"):
        return compute(
            inputs.clients, inputs.managers, inputs.previous, request.seed, request.limit, stage
        )


def _check(frames: dict[str, DataFrame], record: Run) -> None:
    """checks.RULES measured in one query and kept in the run log; one broken rule
    raises QualityError before anything is written."""
    with step("Checking the assignment"):
        counts = checks.validation_counts(
            frames["assignment"],
            frames["unassigned"],
            frames["valid_clients"],
            frames["capacities"],
        )
        report = QualityReport.from_counts(checks.RULES, counts.collect()[0].asDict())
    record.record_quality("assignment", report)
    report.raise_on_fail("portfolio assignment")
    log.info("Checks passed: every client placed once, no manager over capacity, keys match")


def _write(frames: dict[str, DataFrame], result: AssignResult) -> None:
    with step("Writing the assignment"):
        io.publish(frames, result.out)
        io.write_summary(result.summary(), result.out)


def _same(_name: str, df: DataFrame) -> DataFrame:
    return df


def compute(
    clients_raw: DataFrame,
    managers_raw: DataFrame,
    previous: DataFrame | None,
    seed: int,
    limit: int,
    stage: Callable[[str, DataFrame], DataFrame] = _same,
) -> dict[str, DataFrame]:
    """Builds every output frame; `stage` materializes the frames reused downstream.

    Without staging, an engine may recompute the client clean-up once per use (Sail
    has no common-subplan reuse); the job passes a StagingArea so each step runs once.
    """
    client_ids = stage("client_ids", t.rows_per_id(clients_raw, t.CLIENT))
    client_conflicts = t.conflicting_ids(client_ids, t.CLIENT, "cliente")
    clients = t.consistent_rows(client_ids, clients_raw.columns)
    manager_ids = stage("manager_ids", t.rows_per_id(managers_raw, t.MANAGER))
    manager_conflicts = t.conflicting_ids(manager_ids, t.MANAGER, "gerente")
    managers = t.consistent_rows(manager_ids, managers_raw.columns)
    capacities = t.manager_capacities(managers, limit)

    if previous is not None:
        kept = stage("kept", t.kept_from_previous(clients, previous, capacities, seed))
        to_deal = clients.join(kept.select(t.CLIENT), t.CLIENT, "left_anti")
        current = kept.groupBy(t.MANAGER).agg(F.count(F.lit(1)).alias("e"))
    else:  # a first run: nobody is kept, every manager starts empty
        kept, to_deal = None, clients
        current = capacities.select(t.MANAGER, F.lit(0).cast("long").alias("e"))
    demand = to_deal.groupBy(t.KEY).agg(F.count(F.lit(1)).alias("n"))
    plan = stage("plan", t.plan_new_loads(capacities, current, demand, seed))
    dealt = stage("dealt", t.deal(t.number_clients(to_deal, seed), t.slot_ranges(plan)))
    assignment = t.assignment_rows(clients, kept, dealt, previous)
    if kept is not None:  # a first run's assignment is a filter of the staged dealt
        assignment = stage("assignment", assignment)

    rejects = (
        t.null_key_rejects(t.rows_with_null_key(clients_raw), t.CLIENT, "cliente")
        .unionByName(t.null_key_rejects(t.rows_with_null_key(managers_raw), t.MANAGER, "gerente"))
        .unionByName(client_conflicts)
        .unionByName(manager_conflicts)
    )
    return {
        "assignment": assignment,
        "unassigned": stage("unassigned", t.unassigned_reason(dealt, managers)),
        "rejects": stage("rejects", rejects),
        "valid_clients": clients.select(t.CLIENT),
        "capacities": stage("capacities", capacities),
    }


def _count_by(df: DataFrame, column: str) -> dict[Any, int]:
    counts = df.groupBy(column).agg(F.count(F.lit(1)).alias("n")).collect()
    return {r[column]: r["n"] for r in counts}


def _summarize(
    frames: dict[str, DataFrame], clients_raw: DataFrame, request: AssignRequest, run_id: str
) -> AssignResult:
    assigned, rejects = frames["assignment"], frames["rejects"]
    loads = t.manager_loads(assigned, frames["capacities"])
    per_key = [KeyLoad(**r.asDict()) for r in t.load_by_key(loads).orderBy(t.KEY).collect()]
    overall = loads.agg(F.min("carga").alias("lo"), F.max("carga").alias("hi")).collect()[0]
    situacao = _count_by(assigned, t.STATUS)
    reject_counts = [
        (r["tipo"], r[t.REASON] == t.NULL_KEY, r["n"])
        for r in rejects.groupBy("tipo", t.REASON).agg(F.count(F.lit(1)).alias("n")).collect()
    ]
    unassigned_by = _count_by(frames["unassigned"], t.REASON)
    return AssignResult(
        clients_read=clients_raw.count(),
        clients_dropped_null_key=sum(
            n for kind, is_null, n in reject_counts if kind == "cliente" and is_null
        ),
        rejected=sum(n for kind, is_null, n in reject_counts if kind == "cliente" and not is_null),
        managers_rejected=sum(n for kind, _, n in reject_counts if kind == "gerente"),
        assigned=sum(situacao.values()),
        unassigned=sum(unassigned_by.values()),
        unassigned_by_reason=unassigned_by,
        kept=situacao.get("mantido", 0),
        moved=situacao.get("realocado", 0),
        new=situacao.get("novo", 0),
        managers_read=frames["capacities"].count(),
        load_min=overall["lo"],
        load_max=overall["hi"],
        load_spread=(overall["hi"] or 0) - (overall["lo"] or 0),
        per_key=per_key,
        seed=request.seed,
        limit=request.limit,
        inputs={
            "clients": request.clients,
            "managers": request.managers,
            "previous": request.previous,
        },
        out=request.out,
        run_id=run_id,
    )
