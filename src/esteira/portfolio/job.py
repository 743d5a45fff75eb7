"""`esteira portfolio assign`: read -> clean -> plan -> deal -> validate -> write."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.errors import QualityError
from esteira.logs import step
from esteira.portfolio import io
from esteira.portfolio import transforms as t
from esteira.runlog import track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssignRequest:
    clients: str
    managers: str
    out: Path
    previous: str | None = None
    seed: int | None = None
    limit: int | None = None


def run(settings: Settings, session: SparkSession, req: AssignRequest) -> dict[str, Any]:
    """Assigns every valid client to one manager of its key; returns the run summary."""
    seed = settings.portfolio.seed if req.seed is None else req.seed
    limit = settings.portfolio.limit_clients if req.limit is None else req.limit
    with track_run(settings.runs_file, "portfolio.assign", settings.engine) as run_rec:
        with step("Reading clients and managers"):
            clients_raw = io.read_clients(session, req.clients)
            managers_raw = io.read_managers(session, req.managers)
            previous = io.read_previous(session, req.previous) if req.previous else None
        staging = req.out / "_staging" / run_rec.run_id
        try:
            with step("Computing the assignment"):
                stager = io.Stager(session, staging)
                staged = compute(clients_raw, managers_raw, previous, seed, limit, stager)
            with step("Validating"):
                valid_clients = staged["valid_clients"]
                capacities = staged["capacities"]
                _validate(staged["assignment"], staged["unassigned"], valid_clients, capacities)
                summary = _summarize(staged, clients_raw, seed, limit, req)
            with step("Writing the assignment"):
                io.publish(staged, req.out)
                io.write_summary(summary, req.out)
        finally:
            io.drop_staging(staging)
        run_rec.inputs = {"clients": summary["clients_read"], "managers": summary["managers_read"]}
        run_rec.outputs = {k: summary[k] for k in ("assigned", "unassigned", "rejected")}
        summary["run_id"] = run_rec.run_id
        return summary


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
    has no common-subplan reuse); the job stages to Parquet so each step runs once.
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


def _validate(
    assigned: DataFrame, unassigned: DataFrame, clients: DataFrame, capacities: DataFrame
) -> None:
    row = t.validation_counts(assigned, unassigned, clients, capacities).collect()[0]
    broken = {k: int(v or 0) for k, v in row.asDict().items() if v}
    if broken:
        detail = ", ".join(f"{k}={v}" for k, v in broken.items())
        raise QualityError(f"portfolio validation failed ({detail}); nothing was written")
    log.info("Validation passed: every client placed once, no manager over capacity, keys match")


def _summarize(
    staged: dict[str, DataFrame],
    clients_raw: DataFrame,
    seed: int,
    limit: int,
    req: AssignRequest,
) -> dict[str, Any]:
    assigned, rejects = staged["assignment"], staged["rejects"]
    loads = t.manager_loads(assigned, staged["capacities"])
    per_key = [r.asDict() for r in t.load_by_key(loads).orderBy(t.KEY).collect()]
    overall = loads.agg(F.min("carga").alias("lo"), F.max("carga").alias("hi")).collect()[0]
    situacao = {
        r[t.STATUS]: r["n"]
        for r in assigned.groupBy(t.STATUS).agg(F.count(F.lit(1)).alias("n")).collect()
    }
    reject_counts = [
        (r["tipo"], r[t.REASON] == t.NULL_KEY, r["n"])
        for r in rejects.groupBy("tipo", t.REASON).agg(F.count(F.lit(1)).alias("n")).collect()
    ]
    dropped = sum(n for kind, is_null, n in reject_counts if kind == "cliente" and is_null)
    rejected = sum(n for kind, is_null, n in reject_counts if kind == "cliente" and not is_null)
    managers_rejected = sum(n for kind, _, n in reject_counts if kind == "gerente")
    unassigned_by = {
        r[t.REASON]: r["n"]
        for r in staged["unassigned"].groupBy(t.REASON).agg(F.count(F.lit(1)).alias("n")).collect()
    }
    return {
        "clients_read": clients_raw.count(),
        "clients_dropped_null_key": dropped,
        "rejected": rejected,
        "managers_rejected": managers_rejected,
        "assigned": sum(situacao.values()),
        "unassigned": sum(unassigned_by.values()),
        "unassigned_by_reason": unassigned_by,
        "kept": situacao.get("mantido", 0),
        "moved": situacao.get("realocado", 0),
        "new": situacao.get("novo", 0),
        "managers_read": staged["capacities"].count(),
        "load_min": overall["lo"],
        "load_max": overall["hi"],
        "load_spread": (overall["hi"] or 0) - (overall["lo"] or 0),
        "per_key": per_key,
        "seed": seed,
        "limit": limit,
        "inputs": {"clients": req.clients, "managers": req.managers, "previous": req.previous},
    }
