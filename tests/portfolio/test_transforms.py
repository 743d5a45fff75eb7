"""Rules of the distribution on tiny inline frames, on both engines."""

from __future__ import annotations

from collections import Counter

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from esteira.portfolio import transforms as t
from esteira.portfolio.job import compute


def _clients(spark, rows):
    return spark.createDataFrame(rows, "nr_cli long, chave_unica string, nome string")


def _managers(spark, rows):
    return spark.createDataFrame(rows, "id_gerente string, chave_unica string, capacidade int")


def _loads(frames):
    rows = frames["assignment"].select("id_gerente").collect()
    return Counter(r.id_gerente for r in rows)


def test_clients_are_dealt_evenly_within_their_key(spark):
    clients = _clients(spark, [(i, "A" if i <= 10 else "B", f"c{i}") for i in range(1, 15)])
    managers = _managers(
        spark, [("G1", "A", None), ("G2", "A", None), ("G3", "A", None), ("G4", "B", None)]
    )
    frames = compute(clients, managers, None, seed=1, limit=100)
    assert sorted(_loads(frames).values()) == [3, 3, 4, 4]
    pairs = {(r.nr_cli, r.id_gerente) for r in frames["assignment"].collect()}
    assert {m for c, m in pairs if c > 10} == {"G4"}
    assert {m for c, m in pairs if c <= 10} == {"G1", "G2", "G3"}
    assert frames["unassigned"].count() == 0


def test_capacity_is_respected_and_overflow_is_unassigned_with_reason(spark):
    clients = _clients(spark, [(i, "A", None) for i in range(10)])
    managers = _managers(spark, [("G1", "A", None), ("G2", "A", 2)])
    frames = compute(clients, managers, None, seed=3, limit=3)
    assert _loads(frames) == {"G1": 3, "G2": 2}
    reasons = [r.motivo for r in frames["unassigned"].collect()]
    assert reasons == [t.ALL_FULL] * 5


def test_uneven_capacities_fill_the_small_manager_and_balance_the_rest(spark):
    clients = _clients(spark, [(i, "A", None) for i in range(9)])
    managers = _managers(spark, [("G1", "A", 1), ("G2", "A", None), ("G3", "A", None)])
    frames = compute(clients, managers, None, seed=5, limit=10)
    assert _loads(frames) == {"G1": 1, "G2": 4, "G3": 4}


def test_key_without_manager_and_null_key_are_never_silently_dropped(spark):
    clients = _clients(spark, [(1, "A", None), (2, "Z", None), (3, None, None)])
    managers = _managers(spark, [("G1", "A", None), ("G9", None, None)])
    frames = compute(clients, managers, None, seed=1, limit=5)
    assertDataFrameEqual(
        frames["unassigned"].select("nr_cli", "chave_unica", "motivo"),
        [Row(nr_cli=2, chave_unica="Z", motivo=t.NO_MANAGER)],
    )
    assertDataFrameEqual(
        frames["rejects"],
        [
            Row(tipo="cliente", id="3", chave_unica=None, motivo=t.NULL_KEY),
            Row(tipo="gerente", id="G9", chave_unica=None, motivo=t.NULL_KEY),
        ],
    )


def test_exact_duplicates_collapse_and_conflicting_keys_are_rejected(spark):
    clients = _clients(spark, [(1, "A", "x"), (1, "A", "x"), (2, "A", "y"), (2, "B", "y")])
    managers = _managers(spark, [("G1", "A", None), ("G1", "B", None), ("G2", "A", None)])
    frames = compute(clients, managers, None, seed=1, limit=5)
    assertDataFrameEqual(
        frames["assignment"].select("nr_cli", "id_gerente", "situacao"),
        [Row(nr_cli=1, id_gerente="G2", situacao="novo")],
    )
    assertDataFrameEqual(
        frames["rejects"],
        [
            Row(
                tipo="cliente",
                id="2",
                chave_unica="A,B",
                motivo="nr_cli com mais de uma chave_unica",
            ),
            Row(
                tipo="gerente",
                id="G1",
                chave_unica="A,B",
                motivo="id_gerente com mais de uma chave_unica",
            ),
        ],
    )


def test_rows_of_one_id_agree_only_when_every_column_matches_nulls_included(spark):
    clients = spark.createDataFrame(
        [
            (1, "A", None, {"a": 1}),  # 1: identical twice, nulls and maps too -> kept once
            (1, "A", None, {"a": 1}),
            (2, "A", "y", {"a": 1}),  # 2: a null against a value -> conflict
            (2, "A", None, {"a": 1}),
            (3, "A", "z", {"a": 1}),  # 3: maps differ -> conflict
            (3, "A", "z", {"a": 2}),
        ],
        "nr_cli long, chave_unica string, nome string, extra map<string,int>",
    )
    per_id = t.rows_per_id(clients, t.CLIENT)
    kept = t.consistent_rows(per_id, clients.columns)
    assert kept.columns == clients.columns
    assert [(r.nr_cli, r.nome, r.extra) for r in kept.collect()] == [(1, None, {"a": 1})]
    assertDataFrameEqual(
        t.conflicting_ids(per_id, t.CLIENT, "cliente").select("id", "motivo"),
        [Row(id=i, motivo="nr_cli repetido com atributos diferentes") for i in ("2", "3")],
    )


def test_same_seed_same_output_and_other_columns_carried(spark):
    clients = _clients(spark, [(i, "A", f"nome{i}") for i in range(40)])
    managers = _managers(spark, [(f"G{i}", "A", None) for i in range(4)])
    first = compute(clients, managers, None, seed=11, limit=100)["assignment"]
    again = compute(clients, managers, None, seed=11, limit=100)["assignment"]
    other = compute(clients, managers, None, seed=12, limit=100)["assignment"]
    assertDataFrameEqual(first, again)
    assert {r.nome for r in first.collect()} == {f"nome{i}" for i in range(40)}
    assert sorted(first.collect()) != sorted(other.collect())


def test_sticky_rerun_keeps_moves_orphans_and_fills_least_loaded_first(spark):
    clients = _clients(spark, [(i, "A", None) for i in range(1, 9)])
    managers = _managers(spark, [("G1", "A", None), ("G3", "A", None)])
    previous = spark.createDataFrame(
        [(1, "G1"), (2, "G1"), (3, "G1"), (4, "G2"), (5, "G2")], "nr_cli long, id_gerente string"
    )
    frames = compute(clients, managers, previous, seed=2, limit=10)
    rows = {r.nr_cli: (r.id_gerente, r.situacao) for r in frames["assignment"].collect()}
    assert {c: rows[c] for c in (1, 2, 3)} == {c: ("G1", "mantido") for c in (1, 2, 3)}
    assert {rows[c][1] for c in (4, 5)} == {"realocado"}
    assert {rows[c][1] for c in (6, 7, 8)} == {"novo"}
    # 5 clients to deal: G3 (empty) is raised to G1's level first, then they alternate.
    assert Counter(m for m, _ in rows.values()) == {"G1": 4, "G3": 4}


def test_shrunken_capacity_keeps_only_what_fits(spark):
    clients = _clients(spark, [(i, "A", None) for i in range(1, 6)])
    managers = _managers(spark, [("G1", "A", 2), ("G2", "A", None)])
    previous = spark.createDataFrame(
        [(i, "G1") for i in range(1, 6)], "nr_cli long, id_gerente string"
    )
    frames = compute(clients, managers, previous, seed=2, limit=10)
    assert _loads(frames) == {"G1": 2, "G2": 3}
    assert Counter(r.situacao for r in frames["assignment"].collect()) == {
        "mantido": 2,
        "realocado": 3,
    }


@pytest.mark.parametrize(
    ("caps", "kept", "n", "expected"),
    [
        ([5, 5, 5], [0, 0, 0], 7, [3, 2, 2]),
        ([1, 10, 10], [0, 0, 0], 9, [1, 4, 4]),
        ([2, 10], [0, 5], 3, [2, 1]),
        ([2, 2], [0, 0], 9, [2, 2]),
        ([0, 3], [0, 0], 2, [0, 2]),
    ],
)
def test_water_filling_plan(spark, caps, kept, n, expected):
    capacities = spark.createDataFrame(
        [(f"G{i}", "A", c) for i, c in enumerate(caps)],
        "id_gerente string, chave_unica string, cap long",
    )
    current = spark.createDataFrame(
        [(f"G{i}", e) for i, e in enumerate(kept)], "id_gerente string, e long"
    )
    demand = spark.createDataFrame([("A", n)], "chave_unica string, n long")
    plan = t.plan_new_loads(capacities, current, demand, seed=1).collect()
    got = sorted((r.id_gerente, r.novos) for r in plan)
    assert sorted(v for _, v in got) == sorted(expected)
    starts = sorted((r.inicio, r.novos) for r in plan)
    assert all(a[0] + a[1] == b[0] for a, b in zip(starts, starts[1:], strict=False))
