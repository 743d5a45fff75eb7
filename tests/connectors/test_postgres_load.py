"""postgres_load: frames loaded and applied in one transaction, on the engine under test,
against the suite's real server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from pyspark.sql import SparkSession

from esteira.connectors import postgres as pg
from esteira.connectors import postgres_load
from esteira.errors import ServiceError

ROWS = [
    (1, "Conceição", Decimal("10.50"), dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "I"),
    (2, 'com, "aspas"', None, None, "U"),
    (3, None, Decimal("-0.01"), dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.UTC), "I"),
]
SCHEMA = "id bigint, nome string, valor decimal(10,2), visto timestamp, _acao string"
TYPES = {"id": "bigint", "nome": "text", "valor": "numeric(10,2)", "visto": "timestamptz"}


def _target(dsn: str, schema: str) -> None:
    with pg.connect(dsn) as conn:
        conn.execute(f"CREATE TABLE {schema}.alvo (id bigint PRIMARY KEY, nome text, "
                     "valor numeric(10,2), visto timestamptz)")


def test_rows_go_into_a_target_or_a_table_to_select_from(
    spark: SparkSession, pg_conninfo: str, pg_schema: str
) -> None:
    """`into` appends the columns named (only the 'I' rows when asked), `largest` is
    the column's maximum, `table` can be selected from: the same values on both
    engines, whichever way the rows travelled."""
    _target(pg_conninfo, pg_schema)
    frame = spark.createDataFrame(ROWS, SCHEMA)

    def work(conn: psycopg.Connection, loaded: dict) -> tuple:
        rows = loaded["mov"]
        added = rows.into(f"{pg_schema}.alvo", TYPES, only=("_acao", "I"))
        seen = conn.execute(f"SELECT count(*) FROM {rows.table.as_string(conn)}").fetchone()[0]
        return added, rows.largest("visto", "timestamptz"), seen

    added, largest, seen = postgres_load.load_and_apply(
        pg_conninfo, {"mov": frame}, work, schema=pg_schema)

    assert (added, largest, seen) == (2, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), 3)
    with pg.connect(pg_conninfo) as conn:
        got = conn.execute(f"SELECT * FROM {pg_schema}.alvo ORDER BY id").fetchall()
        sides = conn.execute("SELECT count(*) FROM information_schema.tables WHERE "
                             "table_schema = %s AND table_name <> 'alvo'", (pg_schema,)).fetchone()
    assert got == [r[:4] for r in ROWS if r[4] == "I"]
    assert sides == (0,)  # the JVM engine's side table went with the transaction


def test_indexes_are_built_again_around_a_bulk_fill(pg_conninfo: str, pg_schema: str) -> None:
    """Primary key, unique constraint, partial and BRIN indexes: dropped for the block,
    the same definitions after it; a repeated key fails when its index is built and
    the transaction leaves the table as it was."""
    table = f"{pg_schema}.alvo"
    definitions = ("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s "
                   "ORDER BY indexname")
    with pg.connect(pg_conninfo) as conn:
        conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, codigo text UNIQUE, "
                     "em timestamptz)")
        conn.execute(f"CREATE INDEX alvo_parcial ON {table} (id) WHERE id < 0")
        conn.execute(f"CREATE INDEX alvo_brin ON {table} USING brin (em)")
        before = conn.execute(definitions, (pg_schema,)).fetchall()
        with conn.transaction():
            with postgres_load.indexes_rebuilt(conn, table):
                during = conn.execute(definitions, (pg_schema,)).fetchall()
                conn.execute(f"INSERT INTO {table} SELECT g, 'c' || g, now() "
                             "FROM generate_series(1, 1000) g")
        after = conn.execute(definitions, (pg_schema,)).fetchall()
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            with postgres_load.indexes_rebuilt(conn, table):
                conn.execute(f"INSERT INTO {table} VALUES (5, 'outro', now())")
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        kept = conn.execute(definitions, (pg_schema,)).fetchall()
    assert len(before) == 4 and during == [] and after == before and kept == before
    assert count == (1000,)


def test_a_failed_apply_leaves_the_target_as_it_was(
    spark: SparkSession, pg_conninfo: str, pg_schema: str
) -> None:
    _target(pg_conninfo, pg_schema)
    frame = spark.createDataFrame(ROWS, SCHEMA)

    def work(conn: psycopg.Connection, loaded: dict) -> None:
        loaded["mov"].into(f"{pg_schema}.alvo", TYPES)
        conn.execute(f"INSERT INTO {pg_schema}.alvo (id) VALUES (1)")  # a repeated key

    with pytest.raises(ServiceError, match=r"loading mov into PostgreSQL .* \(UniqueViolation\); "
                                           "every table was left as it was"):
        postgres_load.load_and_apply(pg_conninfo, {"mov": frame}, work, schema=pg_schema)
    with pg.connect(pg_conninfo) as conn:
        assert conn.execute(f"SELECT count(*) FROM {pg_schema}.alvo").fetchone() == (0,)


@pytest.mark.parametrize("path", ["binary", "csv"])
def test_a_frozen_copy_needs_its_table_emptied_in_the_same_transaction(
    pg_conninfo: str, pg_schema: str, path: str
) -> None:
    """freeze=True asks PostgreSQL for COPY FREEZE (refused unless the table was
    created or truncated in this transaction; rows written frozen otherwise)."""
    import pyarrow as pa

    from esteira.connectors.postgres_write import copy_arrow

    data = pa.table({"n": pa.array([1, 2], pa.int64()), "c": ["a", "b"]})
    kind = "uuid" if path == "csv" else "text"  # uuid has no binary encoding here
    if path == "csv":
        data = data.set_column(1, "c", pa.array(["6f1c0e2a-4b8e-4c1a-9f00-2d3c4b5a6e7f"] * 2))
    with pg.connect(pg_conninfo) as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.t (n bigint, c {kind})")
        conn.commit()
        with pytest.raises(psycopg.Error, match="COPY FREEZE"), conn.transaction():
            copy_arrow(conn, f"{pg_schema}.t", data, freeze=True)
        with conn.transaction():
            conn.execute(f"TRUNCATE {pg_schema}.t")
            assert copy_arrow(conn, f"{pg_schema}.t", data, freeze=True) == 2
        assert conn.execute(f"SELECT n FROM {pg_schema}.t ORDER BY n").fetchall() == [(1,), (2,)]


def test_sail_frames_come_through_parquet_copies_sorted_when_asked(
    spark: SparkSession, engine: str, pg_conninfo: str, pg_schema: str, tmp_path
) -> None:
    """With a scratch folder (the embedded Sail server's), the rows travel as Parquet
    copies written there: the same values, laid out in the order asked (nulls first, as
    Spark sorts), an empty frame loads nothing, and no copy is left behind."""
    if engine != "sail":
        pytest.skip("the JVM engine loads through its JDBC writer")
    _target(pg_conninfo, pg_schema)
    many = [(i, f"n{i}", Decimal(i) / 100, dt.datetime(2026, 1, 1 + i % 28, tzinfo=dt.UTC)
             if i % 7 else None, "I") for i in range(4, 250_004)]
    frame = spark.createDataFrame(ROWS + many, SCHEMA).repartition(3)
    empty = spark.createDataFrame([], SCHEMA)
    scratch = tmp_path / "scratch"

    def work(conn: psycopg.Connection, loaded: dict) -> tuple:
        added = loaded["mov"].into(f"{pg_schema}.alvo", TYPES, order=("visto", "id"))
        return added, loaded["none"].into(f"{pg_schema}.alvo", TYPES)

    added = postgres_load.load_and_apply(pg_conninfo, {"mov": frame, "none": empty}, work,
                                         schema=pg_schema, scratch=scratch)

    assert added == (3 + len(many), 0)
    with pg.connect(pg_conninfo) as conn:
        laid = conn.execute(f"SELECT id, nome, valor, visto FROM {pg_schema}.alvo "
                            "ORDER BY ctid").fetchall()
    expected = sorted((r[:4] for r in ROWS + many),
                      key=lambda r: (r[3] is not None, r[3] or dt.datetime.min, r[0]))
    assert laid == expected
    assert list(scratch.iterdir()) == []
