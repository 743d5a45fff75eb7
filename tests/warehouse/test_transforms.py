"""Pure transforms of the warehouse, on the engine under test, against values written here."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import types as T

from esteira.warehouse import transforms

MOVES = T.StructType([
    T.StructField("id", T.LongType()), T.StructField("des_transacao", T.StringType()),
    T.StructField("atualizado_em", T.TimestampType()),
])


def test_dedupe_keeps_each_ids_latest_row_and_leaves_single_rows_alone(spark):
    early, late = datetime(2024, 3, 1, 10), datetime(2024, 3, 2, 10)
    rows = [
        (1, "único", early),
        (2, "antigo", early), (2, "corrigido", late),  # a correction: the later one
        (3, "b", late), (3, "a", late), (3, "b", late),  # a tie: the largest text, once
        (4, None, late), (4, "com texto", late),  # a null is the smallest
        (5, None, None),
    ]
    kept = transforms.dedupe(spark.createDataFrame(rows, MOVES), "movimento")
    got = sorted((r["id"], r["des_transacao"], r["atualizado_em"]) for r in kept.collect())
    assert got == [(1, "único", early), (2, "corrigido", late), (3, "b", late),
                   (4, "com texto", late), (5, None, None)]


def test_dedupe_of_associados_keeps_one_row_per_id_and_change_time(spark):
    schema = T.StructType([T.StructField("id", T.LongType()),
                           T.StructField("email", T.StringType()),
                           T.StructField("atualizado_em", T.TimestampType())])
    first, second = datetime(2024, 1, 1), datetime(2024, 2, 1)
    rows = [(7, "a@x.com", first), (7, "a@x.com", first), (7, "b@x.com", second),
            (8, "c@x.com", first)]
    kept = transforms.dedupe(spark.createDataFrame(rows, schema), "associado")
    assert sorted(tuple(r) for r in kept.collect()) == [
        (7, "a@x.com", first), (7, "b@x.com", second), (8, "c@x.com", first)]
