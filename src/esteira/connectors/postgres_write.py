"""Writing to PostgreSQL from either engine, in bulk and atomically: a DataFrame into a
table (`write_table`), Arrow tables copied or upserted (`copy_arrow`,
`upsert_arrow`, the orders consumer). Never row by row: JVM Spark's JDBC writer in
batches, or COPY. Frames loaded and applied in one transaction: postgres_load.py.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from pyspark.sql import DataFrame

from esteira.connectors.postgres import NO_JDBC, column_types, connect, describe, jdbc_options
from esteira.errors import ServiceError

T = TypeVar("T")
log = logging.getLogger(__name__)


def write_table(frame: DataFrame, dsn: str, table: str, mode: str = "append") -> None:
    """Writes a DataFrame to a PostgreSQL table (mode append or overwrite), atomically.

    JVM Spark's JDBC writer commits each partition on its own and drops the table before
    an overwrite, so it writes into a fresh side table instead; one transaction then
    swaps it in (overwrite) or moves its rows over (append). Sail has no JDBC writer: the
    rows are fetched as Arrow and loaded with COPY in one transaction. Either way a
    failed write leaves the table as it was.
    """
    if mode not in ("append", "overwrite"):
        raise ValueError(f"mode must be append or overwrite, not {mode!r}")
    side = _side_table_name(table)
    try:
        frame.write.format("jdbc").options(**jdbc_options(dsn, side)).mode("overwrite").save()
    except Exception as exc:  # never echo the driver's text: it may quote row values
        if not any(sign in str(exc) for sign in (NO_JDBC, "writer is not implemented")):
            drop_quietly(dsn, side)
            raise ServiceError(
                f"writing {table} to PostgreSQL {describe(dsn)} failed ({exc.__class__.__name__}); "
                "the table was left as it was"
            ) from None
        side = None
    try:
        if side is None:  # Sail: the JDBC source is read-only (and nothing was written above)
            _copy_arrow(frame, dsn, table, mode)
        else:
            _swap_in(dsn, side, table, mode, frame.columns)
    except ServiceError:
        raise
    except Exception as exc:  # a failed query (Sail) or transaction: class name only
        if side is not None:
            drop_quietly(dsn, side)
        raise ServiceError(
            f"writing {table} to PostgreSQL {describe(dsn)} failed ({exc.__class__.__name__}); "
            "the table was left as it was"
        ) from None

def _side_table_name(table: str) -> str:
    """A fresh table beside the target (same schema): <schema>._esteira_<id>_<name>."""
    schema, _, name = table.rpartition(".")
    side = f"_esteira_{uuid.uuid4().hex[:8]}_{name}"[:63]
    return f"{schema}.{side}" if schema else side

def _swap_in(dsn: str, side: str, table: str, mode: str, columns: list[str]) -> None:
    """One transaction: the side table's rows replace the table's (overwrite) or join them."""
    target, side_id = sql.Identifier(*table.split(".")), sql.Identifier(*side.split("."))
    name = sql.Identifier(table.rpartition(".")[2])
    with connect(dsn) as conn, conn.transaction():
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]
        if mode == "append" and exists:
            names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            conn.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                    target, names, names, side_id
                )
            )
            conn.execute(sql.SQL("DROP TABLE {}").format(side_id))
            return
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(side_id, name))

def drop_quietly(dsn: str, side: str) -> None:
    try:
        with connect(dsn) as conn:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(*side.split(".")))
            )
    except psycopg.Error:
        log.warning("could not drop the side table %s", side)

PG_TYPES = {
    "tinyint": "smallint",
    "smallint": "smallint",
    "int": "integer",
    "bigint": "bigint",
    "float": "real",
    "double": "double precision",
    "string": "text",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamptz",
    "timestamp_ntz": "timestamp",
    "binary": "bytea",
}

def frame_columns(frame: DataFrame, table: str) -> list[sql.Composable]:
    """`name type` for each of the frame's columns, in PostgreSQL's types."""
    columns = []
    for field in frame.schema.fields:
        kind = field.dataType.simpleString()
        pg_type = "numeric" + kind[7:] if kind.startswith("decimal") else PG_TYPES.get(kind)
        if pg_type is None:
            raise ServiceError(f"{table}: column {field.name} of type {kind} cannot go to "
                               "PostgreSQL")
        columns.append(sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(pg_type)))
    return columns


def _copy_arrow(frame: DataFrame, dsn: str, table: str, mode: str) -> None:
    columns = frame_columns(frame, table)
    target = sql.Identifier(*table.split("."))
    names = sql.SQL(", ").join(sql.Identifier(f.name) for f in frame.schema.fields)
    data = frame.toArrow()
    with connect(dsn) as conn, conn.transaction():
        if mode == "overwrite":
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                target, sql.SQL(", ").join(columns)
            )
        )
        with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(target, names)) as copy:
            for batch in data.to_batches():
                for row in zip(*(col.to_pylist() for col in batch.columns), strict=True):
                    copy.write_row(row)

def copy_arrow(conn: psycopg.Connection, table: str, data: Any,
               columns: list[str] | None = None, freeze: bool = False,
               order: tuple[str, ...] = ()) -> int:
    """COPYs an Arrow table into `table` (schema.name, or a temporary table's name), in
    the caller's transaction; returns the rows copied. PostgreSQL's binary format
    (pgpq's encoder: no text for the server to parse, about 2.3x faster than CSV for
    5M movements here), each column cast to its table column's type first (a value
    that does not fit fails the COPY); CSV when a column has no binary encoding here.
    `freeze`: rows written frozen (COPY FREEZE: the table must have been created or
    truncated in this transaction), so no VACUUM rewrites them after a bulk fill.
    `order`: the rows sent sorted by these columns (ascending, nulls first, as Spark
    sorts). Sent in slices, so PostgreSQL reads one while the next is encoded."""
    names = columns or list(data.column_names)
    if not order:
        batches = data.select(names).to_batches(max_chunksize=_SLICE)
        return copy_batches(conn, table, data.schema, batches, names, freeze)
    import pyarrow.compute as pc

    data = data.combine_chunks()  # one take per slice, not a concatenation each
    indices = pc.sort_indices(data, [(c, "ascending") for c in order],
                              null_placement="at_start")
    batches = (b for i in range(0, len(indices), _SLICE)
               for b in data.take(indices[i:i + _SLICE]).select(names).to_batches())
    return copy_batches(conn, table, data.schema, batches, names, freeze)


_SLICE = 100_000  # rows encoded at a time


def copy_batches(conn: psycopg.Connection, table: str, schema: Any, batches: Iterable[Any],
                 columns: list[str], freeze: bool = False) -> int:
    """As copy_arrow, for record batches (of `schema`, with at least `columns`) COPYed
    as they come: the rows can still be arriving from the engine."""
    declared = column_types(conn, table)
    binary = _binary_schema([schema.field(n) for n in columns],
                            [declared.get(n) for n in columns])
    target = sql.SQL("{} ({})").format(sql.Identifier(*table.split(".")),
                                       sql.SQL(", ").join(sql.Identifier(n) for n in columns))
    if binary is None:
        import pyarrow as pa

        data = pa.Table.from_batches([b.select(columns) for b in batches],
                                     schema=pa.schema([schema.field(n) for n in columns]))
        if data.num_rows:
            copy_csv(conn, sql.SQL("COPY {} FROM STDIN (FORMAT csv{})").format(
                target, sql.SQL(", FREEZE" if freeze else "")), data)
        return data.num_rows
    from pgpq import ArrowToPostgresBinaryEncoder
    from psycopg.copy import QueuedLibpqWriter

    encoder, rows = ArrowToPostgresBinaryEncoder(binary), 0
    statement = sql.SQL("COPY {} FROM STDIN (FORMAT binary{})").format(
        target, sql.SQL(", FREEZE" if freeze else ""))
    cursor = conn.cursor()  # a thread sends while this one encodes (5M rows: 0.4-1 s less)
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(encoder.write_header())
        for batch in batches:
            rows += batch.num_rows
            copy.write(encoder.write_batch(batch.select(columns).cast(binary)))
        copy.write(encoder.finish())
    return rows


def _binary_schema(arrow: list[Any], declared: list[str | None]) -> Any:
    """The Arrow schema whose binary encoding each declared column reads as its own
    type, or None when a column has none here (an unknown type; a naive timestamp into
    timestamptz, which depends on the session's zone)."""
    import pyarrow as pa

    fixed = {"bigint": pa.int64(), "integer": pa.int32(), "smallint": pa.int16(),
             "text": pa.string(), "boolean": pa.bool_(), "date": pa.date32(),
             "double precision": pa.float64(), "real": pa.float32(), "bytea": pa.binary(),
             "timestamp without time zone": pa.timestamp("us")}
    fields = []
    for field, pg_type in zip(arrow, declared, strict=True):
        if pg_type is None:  # not a column of the table: let COPY name it
            return None
        kind = fixed.get(pg_type)
        if pg_type.startswith(("character varying", "character(")):
            kind = pa.string()
        elif pg_type == "timestamp with time zone":
            if not (pa.types.is_timestamp(field.type) and field.type.tz):
                return None
            kind = pa.timestamp("us", tz="UTC")  # the same instants
        elif match := re.fullmatch(r"numeric\((\d+),(\d+)\)", pg_type):
            kind = pa.decimal128(int(match[1]), int(match[2]))
        elif pg_type == "numeric" and pa.types.is_decimal(field.type):
            kind = field.type
        if kind is None:
            return None
        fields.append(pa.field(field.name, kind))
    return pa.schema(fields)


def copy_csv(conn: psycopg.Connection, statement: Any, data: Any) -> None:
    """Runs a COPY ... FROM STDIN (FORMAT csv) fed by pyarrow's CSV writer, 100,000 rows
    at a time. Zoned timestamps go as their UTC wall time with the session's TimeZone set
    to UTC for the COPY alone (restored after it): Arrow writes a zoned timestamp about
    20x slower than a naive one (1.3 s per million values here), the same instants."""
    import io

    import pyarrow as pa
    from pyarrow import csv as pa_csv

    zoned = [i for i, f in enumerate(data.schema)
             if pa.types.is_timestamp(f.type) and f.type.tz is not None]
    for i in zoned:  # a cast to UTC, then dropping the zone: the same stored values
        kind = data.schema.field(i).type
        naive = data.column(i).cast(pa.timestamp(kind.unit, tz="UTC")).cast(
            pa.timestamp(kind.unit))
        data = data.set_column(i, data.schema.field(i).name, naive)
    previous = None
    if zoned:
        previous = conn.execute("SELECT current_setting('TimeZone')").fetchone()[0]
        conn.execute("SELECT set_config('TimeZone', 'UTC', false)")
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    try:
        with conn.cursor().copy(statement) as copy:
            for batch in data.to_batches(max_chunksize=100_000):
                buffer = io.BytesIO()
                pa_csv.write_csv(batch, buffer, options)
                copy.write(buffer.getbuffer())
    finally:  # (a failed transaction reverts the setting itself)
        if previous is not None and conn.info.transaction_status != TransactionStatus.INERROR:
            conn.execute("SELECT set_config('TimeZone', %s, false)", (previous,))


def upsert_arrow(conn: psycopg.Connection, table: str, data: Any, key: list[str],
                 newer: str | None = None) -> int:
    """Bulk upsert, never row by row: COPY into a temporary table shaped like `table`,
    then one INSERT ... ON CONFLICT (key) DO UPDATE [WHERE newer], in the caller's
    transaction. `newer` is an SQL condition over the stored row (named by the table's
    unqualified name) and `excluded` (the incoming one), e.g. `pedidos.versao <
    excluded.versao`; rows it rejects are left as they are. Returns the rows inserted or
    updated."""
    if data.num_rows == 0:
        return 0
    names = list(data.column_names)
    temp = f"_esteira_upsert_{uuid.uuid4().hex[:8]}"
    target = sql.Identifier(*table.split("."))
    conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING DEFAULTS) "
                         "ON COMMIT DROP").format(sql.Identifier(temp), target))
    copy_arrow(conn, temp, data)
    cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    updates = sql.SQL(", ").join(
        sql.SQL("{} = excluded.{}").format(sql.Identifier(n), sql.Identifier(n))
        for n in names if n not in key)
    statement = sql.SQL(
        "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO UPDATE SET {}"
    ).format(target, cols, cols, sql.Identifier(temp),
             sql.SQL(", ").join(sql.Identifier(k) for k in key), updates)
    if newer:
        statement = sql.SQL("{} WHERE {}").format(statement, sql.SQL(newer))
    return conn.execute(statement).rowcount
