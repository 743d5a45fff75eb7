"""PostgreSQL connector against the suite's real server (fixtures in tests/service_fixtures.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from esteira.connectors import postgres as pg
from esteira.connectors import postgres_write
from esteira.errors import ServiceError
from esteira.services.local import free_port


def test_a_database_round_trip_keeps_every_value(pg_conninfo: str, pg_schema: str) -> None:
    rows = [
        (1, "João da Silva", Decimal("1234.56"), dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)),
        (2, "Ana Lúcia ç ã", Decimal("-0.01"), None),
    ]
    with pg.connect(pg_conninfo) as conn:
        conn.execute(
            f"CREATE TABLE {pg_schema}.clientes "
            "(id int PRIMARY KEY, nome text, saldo numeric(12,2), visto timestamptz)"
        )
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {pg_schema}.clientes VALUES (%s, %s, %s, %s)", rows)

    with pg.connect(pg_conninfo) as conn:
        got = conn.execute(f"SELECT * FROM {pg_schema}.clientes ORDER BY id").fetchall()

    assert got == rows


def test_each_test_gets_an_empty_schema_of_its_own(pg_conninfo: str, pg_schema: str) -> None:
    with pg.connect(pg_conninfo) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
            (pg_schema,),
        ).fetchone()
        owner = conn.execute(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s", (pg_schema,)
        ).fetchone()
    assert tables == (0,)
    assert owner == (conninfo_to_dict(pg_conninfo)["user"],)


def test_jdbc_options_keep_the_password_out_of_the_url(pg_conninfo: str) -> None:
    options = pg.jdbc_options(pg_conninfo, "s.t")
    parts = conninfo_to_dict(pg_conninfo)

    assert options["url"] == f"jdbc:postgresql://{parts['host']}:{parts['port']}/{parts['dbname']}"
    assert options["dbtable"] == "s.t"
    assert options["driver"] == "org.postgresql.Driver"
    assert options["password"] == parts["password"]
    assert parts["password"] not in options["url"] + pg.describe(pg_conninfo)


def test_an_unreachable_server_is_one_clear_error_without_the_password() -> None:
    dsn = make_conninfo(
        host="127.0.0.1",
        port=free_port(),
        dbname="x",
        user="u",
        password="s3gredo",
        connect_timeout=3,
    )

    with pytest.raises(
        ServiceError, match=r"cannot connect to PostgreSQL 127\.0\.0\.1:\d+/x as u"
    ) as err:
        pg.connect(dsn)
    assert "s3gredo" not in str(err.value)


def test_both_engines_write_and_read_postgres(
    spark: SparkSession, pg_conninfo: str, pg_schema: str
) -> None:
    frame = spark.createDataFrame(
        [
            (1, "Loja Centro", 10.5, dt.date(2026, 11, 23), dt.datetime(2026, 11, 23, 12, 0)),
            (2, "Loja São João", None, None, None),
        ],
        "id int, loja string, valor double, dia date, visto timestamp",
    )
    table = f"{pg_schema}.vendas"

    postgres_write.write_table(frame, pg_conninfo, table, mode="overwrite")
    postgres_write.write_table(frame.where("id = 1"), pg_conninfo, table, mode="append")
    back = pg.read_table(spark, pg_conninfo, table)

    assertDataFrameEqual(back, frame.unionAll(frame.where("id = 1")))
    with pg.connect(pg_conninfo) as conn:  # really in PostgreSQL, not in a Spark cache
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (3,)


def test_overwrite_replaces_and_a_query_can_be_read(
    spark: SparkSession, pg_conninfo: str, pg_schema: str
) -> None:
    table = f"{pg_schema}.metas"
    first = spark.createDataFrame([(1, 5)], "loja int, meta int")
    postgres_write.write_table(first, pg_conninfo, table)

    postgres_write.write_table(
        spark.createDataFrame([(2, 7), (3, 9)], "loja int, meta int"),
        pg_conninfo,
        table,
        mode="overwrite",
    )
    total = pg.read_table(spark, pg_conninfo, query=f"SELECT sum(meta) AS total FROM {table}")

    assert [tuple(r) for r in total.collect()] == [(16,)]


def test_a_failed_write_leaves_the_table_as_it_was(
    spark: SparkSession, pg_conninfo: str, pg_schema: str
) -> None:
    table = f"{pg_schema}.saldos"
    before = spark.createDataFrame([(1, 10), (2, 20)], "conta int, saldo int")
    postgres_write.write_table(before, pg_conninfo, table, mode="overwrite")
    rows = spark.range(1, 5000).select(
        F.col("id").cast("int").alias("conta"),
        F.when(F.col("id") == 4000, F.raise_error(F.lit("linha ruim")))
        .otherwise(F.col("id").cast("int"))
        .alias("saldo"),
    )

    for mode in ("overwrite", "append"):
        with pytest.raises(ServiceError, match="left as it was"):
            postgres_write.write_table(rows.repartition(4), pg_conninfo, table, mode=mode)

    assertDataFrameEqual(pg.read_table(spark, pg_conninfo, table), before)
    with pg.connect(pg_conninfo) as conn:  # no side table left behind
        names = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (pg_schema,),
        ).fetchall()
    assert names == [("saldos",)]


def test_reading_a_missing_table_names_it(spark: SparkSession, pg_conninfo: str, pg_schema: str):
    with pytest.raises(ServiceError, match=f"cannot read {pg_schema}.nada from PostgreSQL"):
        pg.read_table(spark, pg_conninfo, f"{pg_schema}.nada")


@pytest.mark.parametrize("path", ["binary", "csv"])
def test_a_bulk_copy_keeps_every_value_and_the_session_time_zone(
    pg_conninfo: str, pg_schema: str, path: str
) -> None:
    """copy_arrow: binary when every column has an encoding (each Arrow column cast to
    its table column's type), CSV otherwise (here a uuid column forces it, whose zoned
    timestamps travel as UTC wall time under TimeZone UTC for the COPY alone). Either
    way the instants, decimals, text and NULLs arrive as they were, and the session's
    zone is back afterwards."""
    import pyarrow as pa

    instant = dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    data = pa.table({
        "em_sp": pa.array([instant, None], pa.timestamp("us", tz="America/Sao_Paulo")),
        "em_utc": pa.array([instant, None], pa.timestamp("us", tz="UTC")),
        "ingenuo": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5), None], pa.timestamp("us")),
        "texto": ['com, "aspas"\nção', None],
        "valor": pa.array([Decimal("-12345678.91"), None], pa.decimal128(12, 2)),
        "n": pa.array([7, None], pa.int64()),
        "dia": pa.array([dt.date(2024, 2, 29), None], pa.date32()),
    })
    if path == "csv":
        data = data.append_column("codigo", pa.array(
            ["6f1c0e2a-4b8e-4c1a-9f00-2d3c4b5a6e7f", None]))
    extra = ", codigo uuid" if path == "csv" else ""
    with pg.connect(pg_conninfo) as conn:
        conn.execute("SET TimeZone = 'Asia/Tokyo'")
        conn.execute(f"CREATE TABLE {pg_schema}.t (em_sp timestamptz, em_utc timestamptz, "
                     f"ingenuo timestamp, texto varchar(20), valor numeric(10,2), n integer, "
                     f"dia date{extra})")
        declared = pg.column_types(conn, f"{pg_schema}.t")
        chosen = postgres_write._binary_schema(list(data.schema),
                                               [declared[n] for n in data.column_names])
        assert (chosen is not None) == (path == "binary")  # the path this case is about
        assert postgres_write.copy_arrow(conn, f"{pg_schema}.t", data) == 2
        rows = conn.execute(f"SELECT em_sp, em_utc, ingenuo, texto, valor, n, dia FROM "
                            f"{pg_schema}.t ORDER BY texto NULLS LAST").fetchall()
        zone = conn.execute("SHOW TimeZone").fetchone()[0]
    assert rows[0][0] == instant and rows[0][1] == instant
    assert rows[0][2] == dt.datetime(2024, 1, 2, 3, 4, 5) and rows[0][3] == 'com, "aspas"\nção'
    assert rows[0][4:] == (Decimal("-12345678.91"), 7, dt.date(2024, 2, 29))
    assert rows[1] == (None,) * 7
    assert zone == "Asia/Tokyo"


def test_a_value_too_big_for_its_column_fails_the_copy(pg_conninfo: str, pg_schema: str) -> None:
    import pyarrow as pa

    with pg.connect(pg_conninfo) as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.t (n integer)")
        with pytest.raises(pa.ArrowInvalid):
            postgres_write.copy_arrow(conn, f"{pg_schema}.t",
                                      pa.table({"n": pa.array([2**40], pa.int64())}))


def test_session_settings_reach_the_server(pg_conninfo: str) -> None:
    dsn = pg.with_settings(pg.with_orphan_check(pg_conninfo, 1500), {"work_mem": "96MB"})
    with pg.connect(dsn) as conn:
        assert conn.execute("SHOW work_mem").fetchone()[0] == "96MB"
        assert conn.execute("SHOW client_connection_check_interval").fetchone()[0] == "1500ms"


def test_a_query_read_in_id_ranges_gets_every_row_once(
    spark: SparkSession, pg_conninfo: str, pg_schema: str
) -> None:
    """split=(column, lowest, highest, parts): the ranges cover the ids given, rows
    outside them (and NULL ids) land in the first or last range."""
    with pg.connect(pg_conninfo) as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.mov AS SELECT g AS id, g * 2 AS v "
                     "FROM generate_series(1, 1000) g UNION ALL SELECT NULL, -1")
    query = f"SELECT id, v FROM {pg_schema}.mov WHERE v <> 4"
    frame = pg.read_table(spark, pg_conninfo, query=query, split=("id", 10, 990, 3))
    rows = sorted(((r.id or 0), r.v) for r in frame.collect())
    assert rows == sorted([(0, -1)] + [(i, 2 * i) for i in range(1, 1001) if i != 2])


def test_a_table_changed_between_two_reads_is_read_as_it_is_now(
    spark: SparkSession, pg_conninfo: str, pg_schema: str
) -> None:
    """Each read asks for the schema once (Sail: sail_jdbc.py), and only for itself:
    frames made from a read keep its columns, the next read sees a column added since.
    (On Sail a frame read before a column was added fails if run after it, as Spark's
    own cached plans do; the warehouse changes columns only before its first read.)"""
    table = f"{pg_schema}.contas"
    with pg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int)")
        conn.execute(f"INSERT INTO {table} VALUES (1), (2)")
    before = pg.read_table(spark, pg_conninfo, table)
    doubled = before.select((F.col("id") * 2).alias("dobro"))
    assert doubled.columns == ["dobro"]
    assert sorted(r.dobro for r in doubled.collect()) == [2, 4]
    with pg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN tipo text DEFAULT 'Corrente'")

    after = pg.read_table(spark, pg_conninfo, table)

    assert after.columns == ["id", "tipo"]
    assert sorted(tuple(r) for r in after.collect()) == [(1, "Corrente"), (2, "Corrente")]
