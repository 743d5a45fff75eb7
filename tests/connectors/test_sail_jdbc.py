"""A read whose column types the caller gives: the schema made from them is the one
connectorx answers (so Sail is not asked to run a LIMIT 0 query), and the rows read are
the same as without them, on either engine."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from psycopg.conninfo import conninfo_to_dict
from pyspark.sql import SparkSession

from esteira.connectors import postgres as pg

COLUMNS = ("a bigint, b integer, c smallint, d boolean, e double precision, f real, "
           "g numeric(10,2), h numeric, i text, j varchar(100), k char(3), l date, "
           "m timestamptz, n timestamp")


@pytest.fixture
def every_type(pg_conninfo: str, pg_schema: str) -> str:
    table = f"{pg_schema}.tipos"
    with pg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} ({COLUMNS})")
        conn.execute(f"INSERT INTO {table} VALUES (9007199254740993, -7, 3, true, 0.1, 2.5, "
                     "1234.56, 0.0000000001, 'João', 'Ana Lúcia', 'ab', DATE '2024-02-29', "
                     "TIMESTAMPTZ '2026-12-03 10:00:00-03', TIMESTAMP '2026-12-03 10:00:00'), "
                     "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
                     "NULL, NULL)")
    return table


def test_the_schema_made_from_the_types_is_connectorx_s_own(pg_conninfo: str,
                                                              every_type: str) -> None:
    cx = pytest.importorskip("connectorx")
    from esteira.connectors.sail_jdbc import encoded_schema

    with pg.connect(pg_conninfo) as conn:
        types = pg.column_types(conn, every_type)
    parts = conninfo_to_dict(pg_conninfo)
    url = (f"postgresql://{parts['user']}:{parts['password']}@{parts.get('host', '127.0.0.1')}"
           f":{parts.get('port', 5432)}/{parts['dbname']}")
    asked = cx.read_sql(url, f"SELECT * FROM {every_type} LIMIT 0", return_type="arrow").schema
    made = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(encoded_schema(types))))
    assert made.equals(asked), f"{made} != {asked}"


def test_a_type_without_a_known_arrow_form_is_asked() -> None:
    from esteira.connectors.sail_jdbc import encoded_schema

    assert encoded_schema({"id": "bigint", "doc": "jsonb"}) is None


def test_a_read_with_its_types_gives_the_same_rows(spark: SparkSession, pg_conninfo: str,
                                                    every_type: str) -> None:
    with pg.connect(pg_conninfo) as conn:
        types = pg.column_types(conn, every_type)
    query = f"SELECT * FROM {every_type} WHERE a IS NOT NULL"
    pg.read_table(spark, pg_conninfo, query="SELECT 1 AS warm")  # Sail's source registered
    given = pg.read_table(spark, pg_conninfo, query=query, types=types)
    if pg.is_sail_jdbc(spark):  # the database was not asked for this read's schema
        from esteira.connectors import sail_jdbc

        assert not [k for k in sail_jdbc._SCHEMAS if ("query", query) in k]
    asked = pg.read_table(spark, pg_conninfo, query=query)
    assert given.schema == asked.schema
    row = given.collect()[0]
    assert row == asked.collect()[0]
    assert (row.a, row.g, row.i, row.l) == (9007199254740993, Decimal("1234.56"), "João",
                                             dt.date(2024, 2, 29))
