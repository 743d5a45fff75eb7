"""Client-portfolio distribution: pure DataFrame functions.

The seed joined every client to every manager of its key and kept row_number() == 1
over rand(): a clients x managers explosion with no balance guarantee and no capacity.
Here the loads are planned first, on the managers alone (water-filling: least-loaded
first, up to each capacity), then each manager is expanded into exactly as many slots
as it receives, and clients meet slots through an equi-join on (chave_unica, position).
Cost grows with clients + managers; the same seed and input give the same output.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

KEY = "chave_unica"
CLIENT = "nr_cli"
MANAGER = "id_gerente"
CAPACITY = "capacidade"
STATUS = "situacao"  # novo | mantido | realocado
REASON = "motivo"

NO_MANAGER = "sem gerente para a chave_unica"
ALL_FULL = "todos os gerentes da chave_unica estao na capacidade maxima"
NULL_KEY = "chave_unica nula"


def rows_with_null_key(df: DataFrame) -> DataFrame:
    return df.filter(F.col(KEY).isNull())


def _has_map(df: DataFrame, name: str) -> bool:
    """Maps are not orderable: min/max compare their JSON instead."""
    return "map<" in df.schema[name].dataType.simpleString()


def rows_per_id(rows: DataFrame, id_col: str) -> DataFrame:
    """One row per id with a key, and whether every row of that id was the same.

    Exact duplicates collapse and ids whose rows differ are found in ONE aggregation
    (a single shuffle): a column is the same in all rows of an id exactly when its
    non-null count is 0, or equals the row count and its min equals its max. Exact,
    no hashing. Returns the id, every other column (its value when the rows agree),
    _same, _key_lo and _key_hi.
    """
    rows = rows.filter(F.col(KEY).isNotNull())
    others = [c for c in rows.columns if c != id_col]
    total = F.count(F.lit(1))
    aggs, same = [total.alias("_rows")], []
    for i, name in enumerate(others):
        has_map = _has_map(rows, name)
        value = F.to_json(F.col(name)) if has_map else F.col(name)
        lo, hi, filled = f"_lo{i}", f"_hi{i}", f"_nn{i}"
        aggs += [F.min(value).alias(lo), F.max(value).alias(hi), F.count(value).alias(filled)]
        if has_map:  # carry one of the (equal) values themselves
            aggs.append(F.first(name).alias(f"_v{i}"))
        agree = (F.col(filled) == F.col("_rows")) & (F.col(lo) == F.col(hi))
        same.append((F.col(filled) == 0) | agree)
    grouped = rows.groupBy(id_col).agg(*aggs)
    key_at = others.index(KEY)
    values = [
        F.col(f"_v{i}" if f"_v{i}" in grouped.columns else f"_lo{i}").alias(name)
        for i, name in enumerate(others)
    ]
    all_same = same[0]
    for condition in same[1:]:
        all_same = all_same & condition
    return grouped.select(
        id_col,
        *values,
        all_same.alias("_same"),
        F.col(f"_lo{key_at}").alias("_key_lo"),
        F.col(f"_hi{key_at}").alias("_key_hi"),
    )


def consistent_rows(per_id: DataFrame, columns: list[str]) -> DataFrame:
    """The ids whose rows all agreed, one row each, with the input's columns."""
    return per_id.filter(F.col("_same")).select(*columns)


def conflicting_ids(per_id: DataFrame, id_col: str, kind: str) -> DataFrame:
    """Ids whose rows disagree: two chave_unica values, or the same key with other
    attributes. The run does not guess which row is right: the id goes to rejects."""
    two_keys = F.col("_key_lo") != F.col("_key_hi")
    return per_id.filter(~F.col("_same")).select(
        F.lit(kind).alias("tipo"),
        F.col(id_col).cast("string").alias("id"),
        F.when(two_keys, F.concat_ws(",", "_key_lo", "_key_hi"))
        .otherwise(F.col("_key_lo"))
        .alias(KEY),
        F.when(two_keys, F.lit(f"{id_col} com mais de uma chave_unica"))
        .otherwise(F.lit(f"{id_col} repetido com atributos diferentes"))
        .alias(REASON),
    )


def null_key_rejects(rows: DataFrame, id_col: str, kind: str) -> DataFrame:
    return rows.select(
        F.lit(kind).alias("tipo"),
        F.col(id_col).cast("string").alias("id"),
        F.lit(None).cast("string").alias(KEY),
        F.lit(NULL_KEY).alias(REASON),
    )


def manager_capacities(managers: DataFrame, default_limit: int) -> DataFrame:
    """id_gerente, chave_unica, cap: the capacity column when set, else the default."""
    cap = F.lit(default_limit).cast("long")
    if CAPACITY in managers.columns:
        cap = F.coalesce(F.col(CAPACITY).try_cast("long"), cap)
    return managers.select(MANAGER, KEY, F.greatest(cap, F.lit(0)).alias("cap"))


def _shuffle(col: str, seed: int) -> Column:
    return F.xxhash64(F.col(col).cast("string"), F.lit(seed))


def kept_from_previous(
    clients: DataFrame, previous: DataFrame, capacities: DataFrame, seed: int
) -> DataFrame:
    """Previous pairs that still hold: same key on both sides and within capacity.

    nr_cli, id_gerente for every client that keeps its manager. When a manager's
    capacity shrank, a seeded random subset up to the capacity stays.
    """
    prev = previous.select(F.col(CLIENT).alias("_c"), F.col(MANAGER).alias("_m")).distinct()
    pairs = (
        clients.select(CLIENT, KEY)
        .join(prev, clients[CLIENT] == prev["_c"])
        .join(capacities, (F.col("_m") == capacities[MANAGER]) & (clients[KEY] == capacities[KEY]))
        .select(clients[CLIENT], capacities[MANAGER], "cap")
    )
    order = Window.partitionBy(MANAGER).orderBy(_shuffle(CLIENT, seed), CLIENT)
    return (
        pairs.withColumn("_n", F.row_number().over(order))
        .filter(F.col("_n") <= F.col("cap"))
        .select(CLIENT, MANAGER)
    )


def plan_new_loads(
    capacities: DataFrame, current: DataFrame, demand: DataFrame, seed: int
) -> DataFrame:
    """How many new clients each manager receives: water-filling per chave_unica.

    Each manager j holds e_j clients already (kept ones) and can hold cap_j. The new
    clients of a key raise the least-loaded managers first, to a common level L, never
    above a capacity: load_j = clamp(L, e_j, cap_j), with the remainder r going one each
    to r managers at level L (seeded choice). Loads then differ by at most one among the
    managers not at capacity. Computed with prefix sums over the sorted breakpoints
    {e_j, cap_j}, so it costs O(managers log managers), whatever the number of clients.

    current: id_gerente, e (kept clients); demand: chave_unica, n (clients to deal).
    Returns id_gerente, chave_unica, e, cap, novos, inicio (first slot of the manager).
    """
    mgr = (
        capacities.join(current, MANAGER, "left")
        .withColumn("e", F.least(F.coalesce(F.col("e"), F.lit(0)).cast("long"), F.col("cap")))
        .join(demand, KEY, "inner")
    )
    # Breakpoint events: +1 at e_j (manager starts taking), -1 at cap_j (manager full).
    events = mgr.select(KEY, F.col("e").alias("p"), F.lit(1).alias("w")).unionByName(
        mgr.select(KEY, F.col("cap").alias("p"), F.lit(-1).alias("w"))
    )
    points = events.groupBy(KEY, "p").agg(F.sum("w").alias("w"))
    upto = Window.partitionBy(KEY).orderBy("p").rowsBetween(Window.unboundedPreceding, -1)
    upto_incl = Window.partitionBy(KEY).orderBy("p").rowsBetween(Window.unboundedPreceding, 0)
    # fill(L) = sum_{p < L} w_p * (L - p): new clients absorbed when the level is L.
    points = (
        points.withColumn("_w_below", F.coalesce(F.sum("w").over(upto), F.lit(0)))
        .withColumn("_pw_below", F.coalesce(F.sum(F.col("w") * F.col("p")).over(upto), F.lit(0)))
        .withColumn("fill", F.col("p") * F.col("_w_below") - F.col("_pw_below"))
        .withColumn("slope", F.sum("w").over(upto_incl))
        .join(demand, KEY)
        .filter(F.col("fill") <= F.col("n"))
    )
    last = Window.partitionBy(KEY).orderBy(F.col("p").desc())
    level = (
        points.withColumn("_r", F.row_number().over(last))
        .filter(F.col("_r") == 1)
        .withColumn(
            "L",
            F.when(
                F.col("slope") > 0,
                F.col("p") + F.floor((F.col("n") - F.col("fill")) / F.col("slope")),
            ).otherwise(F.col("p")),
        )
        .select(KEY, F.col("L").cast("long").alias("L"))
    )
    mgr = mgr.join(level, KEY).withColumn(
        "base", F.least(F.greatest(F.col("L"), F.col("e")), F.col("cap"))
    )
    active = (F.col("e") <= F.col("L")) & (F.col("cap") > F.col("L"))
    by_key = Window.partitionBy(KEY)
    pick = Window.partitionBy(KEY, active).orderBy(_shuffle(MANAGER, seed), MANAGER)
    mgr = (
        mgr.withColumn("_left", F.col("n") - F.sum(F.col("base") - F.col("e")).over(by_key))
        .withColumn("_rank", F.row_number().over(pick))
        .withColumn(
            "novos",
            F.col("base")
            - F.col("e")
            + F.when(active & (F.col("_rank") <= F.col("_left")), 1).otherwise(0),
        )
    )
    slots_before = (
        Window.partitionBy(KEY)
        .orderBy(_shuffle(MANAGER, seed), MANAGER)
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    return mgr.withColumn("inicio", F.coalesce(F.sum("novos").over(slots_before), F.lit(0))).select(
        MANAGER, KEY, "e", "cap", "novos", "inicio"
    )


BUCKET = 1024  # positions per bucket of the slot join: a manager's range spans few


def slot_ranges(plan: DataFrame) -> DataFrame:
    """Each manager's range of positions [inicio, fim) once per bucket it overlaps.

    Small (about managers x 2 rows), so it is broadcast: clients meet their manager
    through an equi-join on (chave_unica, bucket) plus the range test, with no shuffle
    of the clients and no row per slot.
    """
    first, last = F.col("inicio"), F.col("inicio") + F.col("novos") - 1
    return plan.filter(F.col("novos") > 0).select(
        F.col(KEY).alias("_k"),
        F.explode(F.sequence(F.floor(first / BUCKET), F.floor(last / BUCKET))).alias("_b"),
        MANAGER,
        first.alias("_from"),
        (last + 1).alias("_to"),
    )


def number_clients(to_deal: DataFrame, seed: int) -> DataFrame:
    """Gives each client a seeded random position (0-based) within its key."""
    order = Window.partitionBy(KEY).orderBy(_shuffle(CLIENT, seed), CLIENT)
    return to_deal.withColumn("pos", F.row_number().over(order) - 1)


def deal(numbered: DataFrame, ranges: DataFrame) -> DataFrame:
    """Clients meet the manager whose range holds their position; null where none is left."""
    bucketed = numbered.withColumn("_cb", F.floor(F.col("pos") / BUCKET))
    hit = (
        (bucketed[KEY] == F.col("_k"))
        & (F.col("_cb") == F.col("_b"))
        & (F.col("pos") >= F.col("_from"))
        & (F.col("pos") < F.col("_to"))
    )
    return (
        bucketed.join(F.broadcast(ranges), hit, "left")
        .select(*numbered.columns, MANAGER)
        .drop("pos")
    )


def unassigned_reason(dealt: DataFrame, managers: DataFrame) -> DataFrame:
    """Clients without a slot, with the reason: no manager for the key, or all full."""
    keys = managers.select(KEY).distinct().withColumn("_has_manager", F.lit(True))
    return (
        dealt.filter(F.col(MANAGER).isNull())
        .drop(MANAGER)
        .join(keys, KEY, "left")
        .withColumn(
            REASON, F.when(F.col("_has_manager"), F.lit(ALL_FULL)).otherwise(F.lit(NO_MANAGER))
        )
        .drop("_has_manager")
    )


def assignment_rows(
    clients: DataFrame, kept: DataFrame | None, dealt: DataFrame, previous: DataFrame | None
) -> DataFrame:
    """Every assigned client with its columns, id_gerente and situacao.

    situacao: mantido (kept its manager), realocado (was assigned before, dealt again
    because its manager left, changed key or is over capacity), novo (first assignment).
    """
    new_rows = dealt.filter(F.col(MANAGER).isNotNull())
    columns = [*clients.columns, MANAGER, STATUS]
    if kept is None:  # a first run: every client is new
        return new_rows.withColumn(STATUS, F.lit("novo")).select(columns)
    kept_rows = clients.join(kept, CLIENT).withColumn(STATUS, F.lit("mantido"))
    if previous is None:
        new_rows = new_rows.withColumn(STATUS, F.lit("novo"))
    else:
        before = previous.select(F.col(CLIENT).alias("_p")).distinct().withColumn("_was", F.lit(1))
        new_rows = (
            new_rows.join(before, new_rows[CLIENT] == before["_p"], "left")
            .withColumn(STATUS, F.when(F.col("_was") == 1, "realocado").otherwise("novo"))
            .drop("_p", "_was")
        )
    return kept_rows.select(columns).unionByName(new_rows.select(columns))


def manager_loads(assigned: DataFrame, capacities: DataFrame) -> DataFrame:
    """Every valid manager with its load (0 when it received nobody)."""
    loads = assigned.groupBy(MANAGER).agg(F.count(F.lit(1)).alias("carga"))
    return capacities.join(loads, MANAGER, "left").select(
        MANAGER, KEY, "cap", F.coalesce(F.col("carga"), F.lit(0)).alias("carga")
    )


def load_by_key(loads: DataFrame) -> DataFrame:
    """Per chave_unica: managers, clients, min and max load."""
    return loads.groupBy(KEY).agg(
        F.count(F.lit(1)).alias("gerentes"),
        F.sum("carga").alias("clientes"),
        F.min("carga").alias("carga_min"),
        F.max("carga").alias("carga_max"),
    )
