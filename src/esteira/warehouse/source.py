"""Reading SiCooperative's source database: checked first, then every column cast to
one type, so both engines see the same schema whatever the source declared."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import sql
from pyspark.sql import DataFrame, SparkSession

from esteira.connectors import postgres as pg
from esteira.errors import InputError
from esteira.warehouse.schemas import ACCEPTED, PG_TYPE, SOURCE, SPARK_TYPE, TEXT_TYPES


def check_source(dsn: str, schema: str) -> dict[str, dict[str, str]]:
    """Every source table and column present and castable; else one line naming them.
    Returns each table's declared column types."""
    declared: dict[str, dict[str, str]] = {}
    with pg.connect(dsn) as conn:
        for table, columns in SOURCE.items():
            found = dict(conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s", (schema, table)).fetchall())
            if not found:
                raise InputError(f"source table {schema}.{table}", "does not exist")
            declared[table] = found
            for column, kind in columns.items():
                if column not in found:
                    raise InputError(f"source table {table}", f"column {column} is missing")
                if found[column] in ACCEPTED[kind]:
                    continue
                if found[column] not in TEXT_TYPES:
                    raise InputError(
                        f"source table {table}",
                        f"column {column} is {found[column]}, which cannot be read as "
                        f"{PG_TYPE[kind]}")
                _check_castable(conn, schema, table, column, kind)
    return declared


def _check_castable(conn: Any, schema: str, table: str, column: str, kind: str) -> None:
    import psycopg

    query = sql.SQL("SELECT count({c}::{t}) FROM {s}.{tb}").format(
        c=sql.Identifier(column), t=sql.SQL(PG_TYPE[kind]), s=sql.Identifier(schema),
        tb=sql.Identifier(table))
    try:
        with conn.transaction():
            conn.execute(query)
    except psycopg.DataError:
        raise InputError(
            f"source table {table}",
            f"column {column} holds values that cannot be cast to {PG_TYPE[kind]}") from None


def source_query(
    schema: str, table: str, declared: dict[str, str], timezone: str, since: datetime | None
) -> str:
    """SELECT of a source table with every column cast to its kind's type; timestamps
    without zone are read in `timezone`. `since`: rows with atualizado_em after it."""
    columns = []
    for column, kind in SOURCE[table].items():
        ident = sql.Identifier(column).as_string(None)
        if kind == "timestamp" and declared.get(column) != "timestamp with time zone":
            expr = f"({ident}::timestamp AT TIME ZONE {sql.Literal(timezone).as_string(None)})"
        elif kind == "timestamp":
            expr = ident
        else:
            expr = f"{ident}::{PG_TYPE[kind]}"
        columns.append(f"{expr} AS {ident}")
    where = ""
    if since is not None:
        where = " WHERE " + _changed_since(declared.get("atualizado_em"), timezone, since)
    name = f"{sql.Identifier(schema).as_string(None)}.{sql.Identifier(table).as_string(None)}"
    return f"SELECT {', '.join(columns)} FROM {name}{where}"


def _changed_since(declared: str | None, timezone: str, since: datetime) -> str:
    """atualizado_em after the mark, read in `timezone` as the column itself is. A
    column without zone is also bounded by its own value (the mark as local time less a
    day: any offset change is less), so an index on it can be used."""
    mark = f"'{since.isoformat()}'::timestamptz"
    if declared == "timestamp with time zone":
        return f"atualizado_em > {mark}"
    zone = sql.Literal(timezone).as_string(None)
    exact = f"(atualizado_em::timestamp AT TIME ZONE {zone}) > {mark}"
    if declared != "timestamp without time zone":
        return exact
    return f"atualizado_em > ({mark} AT TIME ZONE {zone}) - interval '1 day' AND {exact}"


def read_source(
    session: SparkSession, dsn: str, schema: str, table: str, declared: dict[str, str],
    timezone: str, since: datetime | None = None, parts: int = 1,
) -> DataFrame:
    """A source table (movements since `since`), typed; `parts` > 1 reads it in that
    many id ranges at once."""
    query = source_query(schema, table, declared, timezone, since)
    split = None
    if parts > 1:  # id ranges read at once, one connection each
        # the changes' bounds: OFFSET 0 keeps PostgreSQL from answering min/max by
        # walking the primary key past every unchanged row (1 s for 5M); the whole table's
        # bounds are the key's ends
        bounded = query if since is None else f"{query} OFFSET 0"
        with pg.connect(dsn) as conn:
            lowest, highest = conn.execute(
                f"SELECT min(id), max(id) FROM ({bounded}) q").fetchone()
        if lowest is not None:
            split = ("id", int(lowest), int(highest), parts)
    frame = pg.read_table(session, dsn, query=query, split=split)
    return frame.select(*[frame[c].cast(SPARK_TYPE[k]).alias(c) for c, k in SOURCE[table].items()])
