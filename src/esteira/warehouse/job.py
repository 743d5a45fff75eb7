"""`warehouse run`: raw -> trusted -> dims -> facts -> extract, each step one transaction.

Every step reads what the previous one committed in the warehouse, so any step can be
rerun alone (the seed's reason for splitting the pipeline). A failed step stops the
chain; the error names the step. The whole run is one record of the run log, with what
each step read, wrote and rejected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors.staging import StagingArea
from esteira.errors import EsteiraError
from esteira.logs import step
from esteira.runlog import Run, track_run
from esteira.settings import Settings
from esteira.warehouse import dim_data, io, scd2, source, targets, transforms
from esteira.warehouse.config import WarehouseSettings
from esteira.warehouse.delta_target import DeltaTarget
from esteira.warehouse.pg_target import PostgresTarget
from esteira.warehouse.request import StepResult, WarehouseRequest, WarehouseResult
from esteira.warehouse.schemas import SMALL_TABLES, SOURCE

log = logging.getLogger(__name__)


def run(settings: Settings, session: SparkSession, request: WarehouseRequest) -> WarehouseResult:
    cfg = settings.warehouse
    result = WarehouseResult(target=cfg.target, steps=[])
    with track_run(settings.runs_file, "warehouse.run", settings.engine) as run_:
        target = targets.make_target(settings, session)
        with target.exclusive(), StagingArea(
                session, settings.home / "warehouse" / "staging", run_.run_id) as stage:
            ctx = _Context(settings, cfg, session, target, request, stage, run_)
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


@dataclass
class _Context:
    settings: Settings
    cfg: WarehouseSettings
    session: SparkSession
    target: PostgresTarget | DeltaTarget
    request: WarehouseRequest
    stage: StagingArea
    run: Run
    declared: dict[str, dict[str, str]] = field(default_factory=dict)
    # movements a step just committed, staged, for the next step (see _handed)
    handoff: dict[str, tuple[DataFrame, datetime | None]] = field(default_factory=dict)

    @property
    def open_end(self) -> datetime:
        return datetime.combine(date.fromisoformat(self.cfg.open_end), time(), UTC)

    @property
    def first_from(self) -> datetime:
        return datetime.combine(date.fromisoformat(self.cfg.first_version_from), time(), UTC)

    @property
    def load_ts(self) -> datetime:
        return self.request.load_ts


def _record(run: Run, outcome: StepResult) -> None:
    for table, rows in outcome.read.items():
        run.inputs[f"{outcome.step}.{table}"] = rows
    for table, rows in outcome.wrote.items():
        run.outputs[f"{outcome.step}.{table}"] = rows
    for table, rows in outcome.rejected.items():
        run.rejected[f"{outcome.step}.{table}"] = rows


def _raw(ctx: _Context) -> StepResult:
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


def _trusted(ctx: _Context) -> StepResult:
    """Cleaned, typed, deduplicated; rows that cannot be cleaned go to trusted_rejeitos."""
    from esteira.quality import flag_failures, measure, passed_rows, rejected_rows

    out, writes, rejects, scopes = StepResult("trusted"), [], [], {}
    marks = ctx.target.marks()
    after = marks.get("trusted_movimento", {}).get("high_water_mark")
    upto = _last_load(ctx, marks, "raw_movimento", "ingerido_em")
    kept_movements = None
    for table in SOURCE:
        if table != "movimento":  # the ids the raw step changed, or all of them
            if (scope := _small_scope(ctx, table)) is not None:
                scopes[table] = scope
            raw = ctx.target.raw_rows(table, scope)
        elif (raw := _handed(ctx, "raw_movimento", after, upto)) is None:
            raw = ctx.target.raw_movements(after, upto)
        rules = transforms.trusted_rules(table, ctx.request.load_date)
        flagged = ctx.stage(f"flagged_{table}",
                            flag_failures(transforms.clean(raw, table, ctx.request.load_date),
                                          rules))
        report = measure(flagged, rules)
        ctx.run.record_quality(f"trusted_{table}", report)
        out.read[table], out.rejected[table] = report.rows, report.rejected
        kept = transforms.dedupe(passed_rows(flagged, rules), table)
        if table == "movimento":  # staged as loaded: the bulk load reads the copy
            kept = kept_movements = ctx.stage(
                "trusted_movimento", kept.withColumn("carregado_em", F.lit(ctx.load_ts)))
        else:
            kept = ctx.stage(f"trusted_{table}", kept)
            duplicates = report.passed - kept.count()
            if duplicates:
                out.warnings.append(f"{duplicates} duplicate row(s) of {table} removed")
                ctx.run.outputs[f"trusted.duplicates_{table}"] = duplicates
        writes.append(io.Write(f"trusted_{table}", kept,
                               "newer" if table == "movimento" else "sync",
                               {table: scopes[table]} if table in scopes else {}))
        rejects.append(transforms.rejects(rejected_rows(flagged, rules), table, ctx.load_ts))
    all_rejects = rejects[0]
    for more in rejects[1:]:
        all_rejects = all_rejects.unionByName(more)
    writes.append(io.Write("trusted_rejeitos", all_rejects, "replace_rejects", scopes))
    marks = [io.Mark("trusted_movimento", high_water_mark=upto),
             *(io.Mark(f"trusted_{t}") for t in SMALL_TABLES)]
    out.wrote = ctx.target.apply(writes, marks, ctx.load_ts)
    # the facts step's first load takes them all (the table was empty before)
    ctx.handoff["trusted_movimento"] = (kept_movements, after)
    return out


def _small_scope(ctx: _Context, table: str) -> list[int] | None:
    """The ids of a small table trusted cleans this run (None: all): those the raw step
    changed or trusted rejected (trusted_pending), and associados whose idade turned."""
    scope = ctx.target.trusted_pending(table)
    if scope is not None and table == "associado":
        turned = transforms.idade_turned(ctx.target.idade_candidates(ctx.request.load_date),
                                         ctx.request.load_date)
        scope = sorted({*scope, *(r["id"] for r in turned.collect())})
    return scope


def _handed(ctx: _Context, table: str, after: datetime | None,
            upto: datetime | None) -> DataFrame | None:
    """The staged movements the previous step of this run committed to `table`, when
    they are exactly the rows of `table` loaded in (after, upto] that the next step
    would read back (5M rows read from PostgreSQL: about 8 s; from the stage: 1.5 s):
    this run's load is `upto`, after `after`, and nothing loaded before it was left
    for the next step (the table's previous load is `after`, or both are None)."""
    handed = ctx.handoff.get(table)
    if handed is None or upto != ctx.load_ts:
        return None
    frame, previous = handed
    if after is None:
        return frame if previous is None else None
    return frame if previous is not None and previous <= after < ctx.load_ts else None


def _dims(ctx: _Context) -> StepResult:
    """dim_associado (SCD2), dim_conta and dim_cartao (type 1), dim_data (calendar)."""
    cfg, out, t = ctx.cfg, StepResult("dims"), ctx.target
    # only the rows whose dimension rows may change (the whole tables on Delta), staged
    # when read whole: the plan reads each several times (Sail read them again each
    # time: 17 s instead of 3 s for 100,000 associados); each frame of changes is used
    # once (by the bulk load), so it is not staged
    dim, events, top = _staged(ctx, "associado", t.scd2_inputs(cfg.unknown_key))
    out.read["associado"] = _considered(t, "associado", events)
    versions = scd2.scd2_changes(dim, events, ctx.load_ts, ctx.open_end, cfg.unknown_key, top)
    type1 = {}
    for entity, attrs in (("conta", ["tipo", "data_criacao", "id_associado"]),
                          ("cartao", ["num_cartao", "nom_impresso", "data_criacao", "id_conta",
                                      "id_associado"])):
        dim, rows, top = _staged(ctx, entity, t.type1_inputs(entity, attrs, cfg.unknown_key))
        out.read[entity] = _considered(t, entity, rows)
        type1[entity] = transforms.type1_changes(dim, rows, entity, attrs, ctx.load_ts,
                                                 cfg.unknown_key, top)
    conta, cartao = type1["conta"], type1["cartao"]
    writes = [io.Write("dim_associado", versions, "upsert"), io.Write("dim_conta", conta, "upsert"),
              io.Write("dim_cartao", cartao, "upsert")]
    # days of the movements trusted loaded since the last dims run, joined to the
    # calendar's own span (dim_data only grows: the rows it lacks are inserted)
    marks = t.marks()
    upto = _last_load(ctx, marks, "trusted_movimento", "carregado_em")
    first, last = t.day_span(cfg.timezone, marks.get("dim_data", {}).get("high_water_mark"))
    if first is not None:
        import holidays

        days = holidays.country_holidays("BR", years=range(first.year, last.year + 1))
        rows = dim_data.calendar_rows(first, last, dict(days))
        calendar = ctx.session.createDataFrame(rows, dim_data.DIM_DATA_SCHEMA)
        writes.append(io.Write("dim_data", calendar, "missing"))
    marks = [io.Mark(w.table, high_water_mark=upto if w.table == "dim_data" else None)
             for w in writes]
    out.wrote = t.apply(writes, marks, ctx.load_ts, check="dims")
    return out


def _considered(target: PostgresTarget | DeltaTarget, entity: str, rows: DataFrame) -> int:
    """The ids whose dimension rows the dims step computed again (the run log's read):
    those the target narrowed its inputs to, or every trusted row's."""
    narrowed = getattr(target, "narrowed", {}).get(entity)
    return narrowed if narrowed is not None else rows.select("id").distinct().count()


def _staged(ctx: _Context, entity: str, inputs: tuple) -> tuple:
    """A dimension's inputs (its rows, the trusted rows, the largest key), both frames
    staged when they are whole tables (top None); a narrowed few are read again."""
    dim, rows, top = inputs
    if top is not None:
        return inputs
    return (ctx.stage(f"dim_{entity}_before", dim), ctx.stage(f"trusted_{entity}_in", rows),
            top)


def _facts(ctx: _Context) -> StepResult:
    """New movements inserted, corrected ones (and those whose associado's version
    changed) updated; checked before commit."""
    cfg, out, t = ctx.cfg, StepResult("facts"), ctx.target
    marks = t.marks()
    after = marks.get("fato_movimentacao_cartao", {}).get("high_water_mark")
    upto = _last_load(ctx, marks, "trusted_movimento", "carregado_em")
    inputs = t.fact_inputs(after, upto)
    if after is None and (handed := _handed(ctx, "trusted_movimento", None, upto)) is not None:
        inputs = inputs._replace(movements=handed)
    desired = transforms.fact_rows(
        inputs.movements, inputs.dim_cartao, inputs.dim_conta, inputs.dim_associado,
        cfg.timezone, cfg.unknown_key, ctx.first_from)
    changes = ctx.stage("fato", transforms.fact_changes(desired, inputs.existing, ctx.load_ts))
    tally = changes.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_distinct("id_movimento").alias("ids"),
        F.sum((F.col("_acao") == "I").cast("long")).alias("inserts"),
        F.sum((F.col("sk_cartao") == cfg.unknown_key).cast("long")).alias("unknown_card"),
        F.sum(((F.col("sk_associado") == cfg.unknown_key)
               & (F.col("sk_cartao") != cfg.unknown_key)).cast("long")).alias("unknown_assoc"),
    ).collect()[0]
    out.read = {"changes": tally["rows"], "inserts": tally["inserts"] or 0}
    if tally["rows"] != tally["ids"]:
        raise EsteiraError("fato_movimentacao_cartao: repeated id_movimento; nothing written")
    for what, count in (("card", tally["unknown_card"]), ("associado", tally["unknown_assoc"])):
        if count:
            out.warnings.append(f"{count} movement(s) with an unknown {what} loaded with key -1")
            ctx.run.outputs[f"facts.unknown_{what}"] = count
    t.check_fact_total(changes, tally["inserts"] or 0)
    out.wrote = t.apply([io.Write("fato_movimentacao_cartao", changes, "upsert")],
                        [io.Mark("fato_movimentacao_cartao", high_water_mark=upto)],
                        ctx.load_ts, check="facts")
    if after is None and out.read["inserts"] == out.read["changes"]:  # every fact there is
        ctx.handoff["fato_movimentacao_cartao"] = (changes, None)
    return out


def _last_load(ctx: _Context, marks: dict, table: str, column: str) -> datetime | None:
    """The time of the last load into `table` (etl_controle's ultima_carga: every row it
    loaded carries it in `column`), or the largest `column` when no mark says it."""
    loaded = marks.get(table, {}).get("ultima_carga")
    return loaded if loaded is not None else ctx.target.latest(table, column)


def _extract(ctx: _Context) -> StepResult:
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


_STEPS = {"raw": _raw, "trusted": _trusted, "dims": _dims, "facts": _facts,
          "extract": _extract}
