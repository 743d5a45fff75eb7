"""sync.py on the engine: which ids' rows replace the table's, written out by hand for
each case."""

from __future__ import annotations

from esteira.warehouse.sync import changed_ids, id_rows

SCHEMA = "id long, nome string, ingerido_em string"


def _ids(spark, now: list[tuple], before: list[tuple]) -> list:
    frame = changed_ids(spark.createDataFrame(now, SCHEMA), spark.createDataFrame(before, SCHEMA),
                        ("ingerido_em",))
    return sorted((r["_id"] for r in frame.collect()), key=repr)


def test_only_the_changed_new_and_gone_ids(spark) -> None:
    before = [(1, "Ana", "d1"), (2, "Bruno", "d1"), (3, "Carla", "d1"), (None, "Sem id", "d1")]
    now = [(1, "Ana", "d2"),  # the ingestion time is not compared
           (2, "Bruno Lima", "d2"), (4, "Davi", "d2"), (None, "Sem id", "d2")]
    assert _ids(spark, now, before) == [2, 3, 4]
    assert _ids(spark, before, before) == []


def test_rows_without_an_id_are_one_group(spark) -> None:
    before = [(None, "Sem id", "d1"), (1, "Ana", "d1")]
    assert _ids(spark, [(None, "Sem id", "d2"), (None, "Outro", "d2"), (1, "Ana", "d2")],
                before) == [None]


def test_an_id_with_a_repeated_row_is_always_changed(spark) -> None:
    assert _ids(spark, [(1, "Ana", "d2"), (1, "Ana", "d2"), (2, "Bia", "d2")],
                [(1, "Ana", "d1"), (2, "Bia", "d1")]) == [1]
    assert _ids(spark, [(1, "Ana", "d2")], [(1, "Ana", "d1"), (1, "Ana", "d1")]) == [1]


def test_the_rows_of_the_ids_and_a_delete_for_each(spark) -> None:
    source = spark.createDataFrame(
        [(1, "Ana", "d2"), (2, "Bruno Lima", "d2"), (None, "Sem id", "d2"),
         (None, "Outro", "d2")], SCHEMA)
    rows = sorted((tuple(r) for r in id_rows(spark, source, [2, 3, None]).collect()), key=repr)
    assert rows == sorted([
        (2, "Bruno Lima", "d2", "I"), (None, "Sem id", "d2", "I"), (None, "Outro", "d2", "I"),
        (2, None, None, "D"), (3, None, None, "D"), (None, None, None, "D")], key=repr)
    assert id_rows(spark, source, []).collect() == []
