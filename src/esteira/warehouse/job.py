"""`warehouse run`: raw -> trusted -> dims -> facts -> extract, each step one transaction
(raw and extract here, trusted in trusted_step.py, dims and facts in star.py).

Every step reads what the previous one committed in the warehouse, so any step can be
rerun alone (the seed's reason for splitting the pipeline). A failed step stops the
chain; the error names the step. The whole run is one record of the run log, with what
each step read, wrote and rejected.
"""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from esteira.connectors.staging import StagingArea
from esteira.errors import EsteiraError
from esteira.logs import step
from esteira.runlog import Run, track_run
from esteira.settings import Settings
from esteira.warehouse import io, source, star, targets
from esteira.warehouse.context import StepContext
from esteira.warehouse.request import StepResult, WarehouseRequest, WarehouseResult
from esteira.warehouse.schemas import SMALL_TABLES, SOURCE
from esteira.warehouse.trusted_step import trusted

log = logging.getLogger(__name__)


def run(settings: Settings, session: SparkSession, request: WarehouseRequest) -> WarehouseResult:
    cfg = settings.warehouse
    result = WarehouseResult(target=cfg.target, steps=[])
    with track_run(settings.runs_file, "warehouse.run", settings.engine) as run_:
        target = targets.make_target(settings, session)
        with target.exclusive(), StagingArea(
                session, settings.home / "warehouse" / "staging", run_.run_id) as stage:
            ctx = StepContext(settings, cfg, session, target, request, stage, run_)
            if "raw" in request.steps:  # bad input stops the run before anything is made
                try:
                    ctx.declared = source.check_source(targets.source_dsn(settings),
                                                       cfg.source_schema)
                except EsteiraError as exc:
                    raise EsteiraError(f"step raw failed: {exc}") from None
            with step(f"Preparing the warehouse ({cfg.target})"):
                target.prepare(cfg.unknown_key, ctx.open_end, ctx.first_from)
            for name in request.steps:
                try:
                    with step(f"Step {name}"):
                        outcome = _STEPS[name](ctx)
                except EsteiraError as exc:
                    raise EsteiraError(f"step {name} failed: {exc}") from None
                _record(run_, outcome)
                result.steps.append(outcome)
                for warning in outcome.warnings:
                    log.warning("%s: %s", name, warning)
        if "extract" in request.steps:
            result.flat_file = cfg.flat_file
    return result


def _record(run: Run, outcome: StepResult) -> None:
    for table, rows in outcome.read.items():
        run.inputs[f"{outcome.step}.{table}"] = rows
    for table, rows in outcome.wrote.items():
        run.outputs[f"{outcome.step}.{table}"] = rows
    for table, rows in outcome.rejected.items():
        run.rejected[f"{outcome.step}.{table}"] = rows


def _raw(ctx: StepContext) -> StepResult:
    """The source as read (+ ingerido_em): small tables whole, movements since the mark."""
    cfg, out = ctx.cfg, StepResult("raw")
    dsn, declared = targets.source_dsn(ctx.settings), ctx.declared
    before = ctx.target.marks().get("raw_movimento", {})
    mark = before.get("high_water_mark")
    read = {}
    for table in SOURCE:
        since = mark if table == "movimento" else None
        frame = source.read_source(ctx.session, dsn, cfg.source_schema, table, declared[table],
                                   cfg.timezone, since,
                                   cfg.read_partitions if table == "movimento" else 1)
        read[f"raw_{table}"] = frame.withColumn("ingerido_em", F.lit(ctx.load_ts))
    # each source read once, into the stage (the targets read the copies: the PostgreSQL
    # one compares the small tables' copies with its own, raw_mirror.py)
    staged = ctx.stage.many(read)
    writes = [io.Write(name, frame, "sync" if name[4:] in SMALL_TABLES else "append")
              for name, frame in staged.items()]
    marks = [io.Mark("raw_movimento", column="atualizado_em"),
             *(io.Mark(f"raw_{t}") for t in SMALL_TABLES)]
    out.wrote = ctx.target.apply(writes, marks, ctx.load_ts)
    ctx.handoff["raw_movimento"] = (staged["raw_movimento"], before.get("ultima_carga"))
    # the small tables are synced (wrote: rows that changed); read: the source's rows
    rows = ctx.target.counts([f"raw_{t}" for t in SMALL_TABLES])
    out.read = {t: rows[f"raw_{t}"] or 0 for t in SMALL_TABLES}
    out.read["movimento"] = out.wrote["raw_movimento"]
    return out


def _extract(ctx: StepContext) -> StepResult:
    """movimento_flat.csv from the star schema, replaced in one rename (on PostgreSQL
    only the days whose rows changed are rendered again: `read` says how many rows)."""
    cfg, out = ctx.cfg, StepResult("extract")
    # the facts step of this run loaded every fact there is (a first load): the target
    # may make a whole file's lines from them
    facts = ctx.handoff.get("fato_movimentacao_cartao", (None,))[0]
    rows = ctx.target.write_flat(cfg.flat_file, cfg.flat_delimiter, cfg.flat_encoding,
                                 cfg.timezone, facts)
    out.wrote = {"movimento_flat": rows}
    out.read = {"rendered": getattr(ctx.target, "flat_rendered", rows)}
    return out


_STEPS = {"raw": _raw, "trusted": trusted, "dims": star.dims, "facts": star.facts,
          "extract": _extract}
