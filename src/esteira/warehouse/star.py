"""The star schema's steps: dims (dim_associado as SCD2, dim_conta and dim_cartao as type
1, dim_data) and facts (fato_movimentacao_cartao), each its changes computed by the pure
transforms and applied by the target in one transaction."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from esteira.errors import EsteiraError
from esteira.warehouse import dim_data, io, scd2, transforms
from esteira.warehouse.context import StepContext, handed, last_load
from esteira.warehouse.delta_target import DeltaTarget
from esteira.warehouse.pg_target import PostgresTarget
from esteira.warehouse.request import StepResult


def dims(ctx: StepContext) -> StepResult:
    """dim_associado (SCD2), dim_conta and dim_cartao (type 1), dim_data (calendar)."""
    cfg, out, t = ctx.cfg, StepResult("dims"), ctx.target
    # only the rows whose dimension rows may change (the whole tables on Delta), staged
    # (_staged); each frame of changes is used once (by the bulk load): not staged
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
    upto = last_load(ctx, marks, "trusted_movimento", "carregado_em")
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


def _staged(ctx: StepContext, entity: str, inputs: tuple) -> tuple:
    """A dimension's inputs (its rows, the trusted rows, the largest key), both frames
    staged, two at a time: the changes' plan reads each several times, and Sail reads a
    source again each time (100,000 associados whole: 17 s instead of 3 s; a narrowed
    few from PostgreSQL: the dims step 1.24 s against 0.99 s, medians of three)."""
    dim, rows, top = inputs
    staged = ctx.stage.many({f"dim_{entity}_before": dim, f"trusted_{entity}_in": rows})
    return (*staged.values(), top)


def facts(ctx: StepContext) -> StepResult:
    """New movements inserted, corrected ones (and those whose associado's version
    changed) updated; checked before commit."""
    cfg, out, t = ctx.cfg, StepResult("facts"), ctx.target
    marks = t.marks()
    after = marks.get("fato_movimentacao_cartao", {}).get("high_water_mark")
    upto = last_load(ctx, marks, "trusted_movimento", "carregado_em")
    given = handed(ctx, "trusted_movimento", after, upto)  # this run's load, as staged
    if after is None or given is None:
        inputs = t.fact_inputs(after, upto)
        if given is not None:
            inputs = inputs._replace(movements=given)
    else:  # only PostgreSQL hands over a later load (wrote_every_row)
        inputs = t.fact_inputs(after, upto, window=given)
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
