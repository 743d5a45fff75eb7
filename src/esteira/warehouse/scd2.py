"""dim_associado as a slowly changing dimension of type 2, computed as a frame of
changes (pure: DataFrames in, DataFrame out; the targets apply it)."""

from __future__ import annotations

import operator
from datetime import datetime
from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from esteira.warehouse.schemas import DIM_ASSOCIADO, TYPE1_ASSOCIADO, TYPE2_ASSOCIADO
from esteira.warehouse.transforms import ACTION, new_keys, same_values


def scd2_changes(
    dim: DataFrame, events: DataFrame, load_ts: datetime, open_end: datetime, unknown: int,
    top: int | None = None,
) -> DataFrame:
    """dim_associado's inserts and updates for one load, as DIM_ASSOCIADO + `_acao`.

    `events` is trusted_associado: one row per (id, atualizado_em), each a version of
    the associado from that time on. Rules:
    - a version starts at its atualizado_em; intervals are half-open [valid_from,
      valid_to), the current one ends at `open_end` (9999-12-31) with atual = true;
    - an event whose tracked values (idade, estado_civil, escolaridade) equal those of
      the version it falls into makes no version: a rerun writes nothing;
    - an event older than the current version splits the interval it falls into (as
      Databricks' APPLY CHANGES does); existing versions are never removed;
    - the current version's own event with other tracked values (the source changed a
      row without moving atualizado_em, or idade turned) starts a version at `load_ts`;
    - nome, sobrenome and email are type 1: every version takes the latest event's;
    - an associado missing from `events` is deleted: its current version closes at
      `load_ts` (atual = false).

    Associados are independent of each other: `dim` and `events` may hold only some
    of them (those whose versions may change, with every version and event of each),
    as long as `top` then gives the dimension's largest surrogate key and `events`
    holds every associado of `dim` that the source still has.
    """
    tracked = list(TYPE2_ASSOCIADO)
    existing = dim.filter(F.col("sk_associado") != unknown)
    latest = (
        events.withColumn(
            "_n",
            F.row_number().over(
                Window.partitionBy("id").orderBy(F.col("atualizado_em").desc())
            ),
        )
        .filter("_n = 1")
        .select(
            F.col("id").alias("id_associado"), F.lit(True).alias("_present"),
            *[F.col(c).alias("_n_" + c) for c in TYPE1_ASSOCIADO],
        )
    )
    at_version = existing.select(
        "id_associado", "valid_from", F.col("atual").alias("_e_atual"),
        *[F.col(c).alias("_e_" + c) for c in tracked],
    )
    matched = events.select(
        F.col("id").alias("id_associado"), *tracked, F.col("atualizado_em").alias("valid_from")
    ).join(at_version, ["id_associado", "valid_from"], "left")
    # two frames rather than one CASE on valid_from: Sail cannot order a window by it
    candidates = matched.filter(F.col("_e_atual").isNull()).select(
        "id_associado", *tracked, "valid_from"
    ).unionByName(
        matched.filter(F.col("_e_atual") & ~same_values(tracked, "_e_")).select(
            "id_associado", *tracked,
            F.greatest(F.col("valid_from"), F.lit(load_ts)).alias("valid_from"))
    )
    old = [F.col(c).alias("_o_" + c) for c in (*TYPE1_ASSOCIADO, "valid_to", "atual")]
    versions = existing.select(
        "sk_associado", "id_associado", *tracked, "valid_from", "carregado_em", *old
    ).unionByName(candidates, allowMissingColumns=True)
    by_time = Window.partitionBy("id_associado").orderBy("valid_from")
    previous = [F.lag(c).over(by_time) for c in tracked]
    unchanged = reduce(
        operator.and_, [F.col(c).eqNullSafe(p) for c, p in zip(tracked, previous, strict=True)]
    )
    first = F.lag("valid_from").over(by_time).isNull()
    kept = (  # window values as columns first: a window inside a filter fails on Sail
        versions.withColumn("_keep", F.col("sk_associado").isNotNull() | first | ~unchanged)
        .filter("_keep").drop("_keep")
    )
    following = F.lead("valid_from").over(by_time)
    closed_before = F.when(F.col("_o_valid_to") < F.lit(open_end), F.col("_o_valid_to"))
    rows = (
        kept.join(latest, "id_associado", "left")
        .withColumn(
            "valid_to",
            F.when(following.isNotNull(), following)
            .when(F.col("_present"), F.lit(open_end))
            .otherwise(F.coalesce(closed_before, F.lit(load_ts))),
        )
        .withColumn("atual", F.col("valid_to") == F.lit(open_end))
    )
    for c in TYPE1_ASSOCIADO:
        rows = rows.withColumn(c, F.when(F.col("_present"), F.col("_n_" + c))
                               .otherwise(F.col("_o_" + c)))
    changed = ~same_values([*TYPE1_ASSOCIADO, "valid_to", "atual"], "_o_")
    updates = rows.filter(F.col("sk_associado").isNotNull() & changed).withColumn(
        ACTION, F.lit("U"))
    inserts = new_keys(
        rows.filter(F.col("sk_associado").isNull()), dim, "sk_associado",
        ["id_associado", "valid_from"], top,
    ).withColumn(ACTION, F.lit("I"))
    return (
        updates.unionByName(inserts)
        .withColumn("carregado_em", F.lit(load_ts))
        .select(*DIM_ASSOCIADO, ACTION)
    )
