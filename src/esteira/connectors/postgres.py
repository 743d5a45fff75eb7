"""PostgreSQL from Python (psycopg 3) and from Spark (the JDBC reader/writer).

Every function takes a libpq DSN (`esteira.endpoints.postgres_dsn(settings)` resolves
the configured or local server); the password inside it is never logged and never part
of an error message (`describe` prints a DSN without it).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from pyspark.sql import DataFrame, SparkSession

from esteira.errors import EsteiraError, ServiceError, first_line

JDBC_DRIVER = "org.postgresql.Driver"
LOOPBACK = "127.0.0.1"  # libpq's default host when a DSN names none
log = logging.getLogger(__name__)
T = TypeVar("T")


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection:
    """Opens a connection; an unreachable server is a ServiceError naming host and port."""
    try:
        return psycopg.connect(dsn, **kwargs)
    except psycopg.OperationalError as exc:
        where = describe(dsn)
        raise ServiceError(
            f"cannot connect to PostgreSQL {where} ({exc.__class__.__name__}); is it running? "
            "`esteira services up postgres` starts the local one"
        ) from None


def describe(dsn: str) -> str:
    """host:port/dbname as user: a DSN safe to print (no password)."""
    parts = conninfo_to_dict(dsn)
    return (
        f"{parts.get('host', LOOPBACK)}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
        f" as {parts.get('user', '?')}"
    )


def jdbc_url(dsn: str) -> str:
    """jdbc:postgresql://host:port/dbname for Spark's JDBC source (no credentials in it)."""
    parts = conninfo_to_dict(dsn)
    host = parts.get("host") or LOOPBACK
    if host.startswith("/"):
        raise ServiceError("Spark's JDBC driver needs a TCP host, not a Unix socket folder")
    return f"jdbc:postgresql://{host}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def jdbc_options(dsn: str, table: str | None = None, **extra: str) -> dict[str, str]:
    """Options for `spark.read/df.write.format("jdbc")`: url, driver, user, password (+ dbtable).

    Credentials travel as options, not inside the URL, so a logged URL never holds them.
    """
    parts = conninfo_to_dict(dsn)
    options = {"url": jdbc_url(dsn), "driver": JDBC_DRIVER, "user": parts.get("user", "")}
    if parts.get("password"):
        options["password"] = str(parts["password"])
    if table:
        options["dbtable"] = table
    options.update(extra)
    return options


def read_table(
    session: SparkSession, dsn: str, table: str | None = None, query: str | None = None,
    split: tuple[str, int, int, int] | None = None,
) -> DataFrame:
    """A PostgreSQL table or query as a DataFrame, on either engine.

    JVM Spark uses its own JDBC source (driver from the Maven step); Sail has none
    built in, so pysail's JDBC reader (connectorx) is registered on first use.
    `split` = (integer column, lowest, highest, parts): read in that many ranges of the
    column at once, one connection each (both engines' JDBC partitioning options).
    """
    if (table is None) == (query is None):
        raise ValueError("give exactly one of table or query")
    options = jdbc_options(dsn, table) if table else {**jdbc_options(dsn), "query": query or ""}
    if split is not None and split[3] > 1 and split[2] > split[1]:
        column, lowest, highest, parts = split
        if query:  # Spark refuses query with partitionColumn: the query as a subquery
            options = jdbc_options(dsn, f"({query}) AS _esteira_split")
        options.update(partitionColumn=column, lowerBound=str(lowest),
                       upperBound=str(highest + 1), numPartitions=str(parts))
    source = table or "query"
    for attempt in (1, 2):
        try:
            frame = session.read.format("jdbc").options(**options).load()
            frame.schema  # noqa: B018 - analyse now, so a missing table fails here
            return frame
        except Exception as exc:  # AnalysisException (Connect or classic), Py4JJavaError
            if attempt == 1 and _NO_JDBC in str(exc):
                _register_sail_jdbc(session)
                continue
            raise ServiceError(
                f"cannot read {source} from PostgreSQL {describe(dsn)}: {first_line(exc)}"
            ) from None
    raise AssertionError("unreachable")


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
        if not any(sign in str(exc) for sign in (_NO_JDBC, "writer is not implemented")):
            _drop_quietly(dsn, side)
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
            _drop_quietly(dsn, side)
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
    from psycopg import sql

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


def _drop_quietly(dsn: str, side: str) -> None:
    from psycopg import sql

    try:
        with connect(dsn) as conn:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(*side.split(".")))
            )
    except psycopg.Error:
        log.warning("could not drop the side table %s", side)


_NO_JDBC = "No data source found for: jdbc"
_PG_TYPES = {
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


def _register_sail_jdbc(session: SparkSession) -> None:
    try:
        from pysail.spark.datasource.jdbc import JdbcDataSource
    except ImportError as exc:
        raise ServiceError(
            f"engine sail reads PostgreSQL through pysail's JDBC source, which needs "
            f"connectorx ({exc}): pip install -e . in the venv"
        ) from None
    session.dataSource.register(JdbcDataSource)


def _copy_arrow(frame: DataFrame, dsn: str, table: str, mode: str) -> None:
    from psycopg import sql

    columns = []
    for field in frame.schema.fields:
        kind = field.dataType.simpleString()
        pg_type = "numeric" + kind[7:] if kind.startswith("decimal") else _PG_TYPES.get(kind)
        if pg_type is None:
            raise ServiceError(
                f"{table}: column {field.name} of type {kind} cannot go to PostgreSQL"
            )
        columns.append(sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(pg_type)))
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


# --- bulk loads applied in one transaction (added for the warehouse) --------------------


def load_and_apply(
    dsn: str,
    frames: Mapping[str, DataFrame],
    apply: Callable[[psycopg.Connection, Mapping[str, Any]], T],
    *,
    schema: str,
    batch_size: int = 10_000,
) -> T:
    """Loads each frame in bulk into a table of its own, then runs `apply(conn, tables)`
    in ONE transaction with them (`tables`: name -> psycopg sql.Identifier to select
    from), and commits: a failure anywhere leaves every target table as it was.

    JVM Spark writes each frame with its JDBC writer (batches of `batch_size`, rewritten
    into multi-row INSERTs) into a side table in `schema`, dropped in the same
    transaction; Sail has no JDBC writer, so its frames go by COPY (CSV from Arrow) into
    temporary tables inside the transaction. Timestamps travel as ISO text with their
    zone and are cast back by `apply`'s SQL (see `column_types`), so neither driver's
    time-zone handling can shift them. Errors name the tables, never a value.
    """
    from psycopg import sql

    sides: dict[str, str] = {}
    copies: dict[str, DataFrame] = {}
    try:
        for name, frame in frames.items():
            side = f"{schema}._esteira_{uuid.uuid4().hex[:8]}_{name}"[:63]
            if _jdbc_write(_zoned_text(frame), dsn, side, batch_size):
                sides[name] = side
            else:
                copies[name] = frame
        with connect(dsn) as conn, conn.transaction():
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            tables: dict[str, Any] = {n: sql.Identifier(*s.split(".")) for n, s in sides.items()}
            for name, frame in copies.items():
                tables[name] = sql.Identifier(f"_esteira_{name}")
                _copy_into_temp(conn, frame, f"_esteira_{name}")
            result = apply(conn, tables)
            for side in sides.values():
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(*side.split("."))))
        return result
    except EsteiraError:
        _drop_all_quietly(dsn, sides.values())
        raise
    except Exception as exc:  # a driver's text can quote row values: the class name only
        _drop_all_quietly(dsn, sides.values())
        raise ServiceError(
            f"loading {', '.join(frames) or 'changes'} into PostgreSQL {describe(dsn)} failed "
            f"({exc.__class__.__name__}); every table was left as it was"
        ) from None


def column_types(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """column -> its declared type (numeric(10,2), timestamp with time zone, ...)."""
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (table,),
    ).fetchall()
    return dict(rows)


_NO_JDBC_WRITER: set[int] = set()  # sessions (by id) whose engine has no JDBC writer


def _jdbc_write(frame: DataFrame, dsn: str, side: str, batch_size: int) -> bool:
    """True when the JDBC writer wrote the side table; False when the engine has none."""
    options = jdbc_options(
        dsn, side, batchsize=str(batch_size), reWriteBatchedInserts="true"
    )
    session = id(frame.sparkSession)
    if session in _NO_JDBC_WRITER:  # known already: skip the attempt (it plans the frame)
        return False
    try:
        frame.write.format("jdbc").options(**options).mode("overwrite").save()
        return True
    except Exception as exc:
        if any(sign in str(exc) for sign in (_NO_JDBC, "writer is not implemented")):
            _NO_JDBC_WRITER.add(session)
            return False
        _drop_quietly(dsn, side)
        raise ServiceError(
            f"bulk load of {side.rpartition('.')[2]} into PostgreSQL {describe(dsn)} failed "
            f"({exc.__class__.__name__}); nothing was applied"
        ) from None


def _zoned_text(frame: DataFrame) -> DataFrame:
    """Timestamps as ISO text with their zone (the session's is UTC): 2024-01-02
    06:04:05.000000Z; other columns as they are."""
    from pyspark.sql import functions as F

    columns = []
    for field in frame.schema.fields:
        if field.dataType.simpleString() == "timestamp":
            text = F.date_format(F.col(field.name), "yyyy-MM-dd HH:mm:ss.SSSSSSXXX")
            columns.append(text.alias(field.name))
        else:
            columns.append(F.col(field.name))
    return frame.select(*columns)


def _copy_into_temp(conn: psycopg.Connection, frame: DataFrame, temp: str) -> None:
    """CREATE TEMP TABLE (dropped at commit) + COPY of the frame's rows as CSV."""
    from psycopg import sql

    columns = []
    for field in frame.schema.fields:
        kind = field.dataType.simpleString()
        pg_type = "numeric" + kind[7:] if kind.startswith("decimal") else _PG_TYPES.get(kind)
        if pg_type is None:
            raise ServiceError(f"{temp}: column {field.name} of type {kind} has no PostgreSQL type")
        columns.append(sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(pg_type)))
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
            sql.Identifier(temp), sql.SQL(", ").join(columns)
        )
    )
    statement = sql.SQL("COPY {} FROM STDIN WITH (FORMAT csv)").format(sql.Identifier(temp))
    _copy_csv(conn, statement, frame.toArrow())


def _drop_all_quietly(dsn: str, sides: Iterable[str]) -> None:
    for side in sides:
        _drop_quietly(dsn, side)


def copy_arrow_csv(conn: psycopg.Connection, table: str, data: Any,
                   columns: list[str] | None = None) -> int:
    """COPYs an Arrow table into `table` (schema.name) through pyarrow's CSV writer (C,
    no Python loop per row); NULL travels as an unquoted empty field, text is quoted.
    Runs inside the caller's transaction; returns the rows copied."""
    from psycopg import sql

    if data.num_rows == 0:
        return 0
    names = columns or list(data.column_names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(*table.split(".")), sql.SQL(", ").join(sql.Identifier(n) for n in names))
    _copy_csv(conn, statement, data.select(names))
    return data.num_rows


def _copy_csv(conn: psycopg.Connection, statement: Any, data: Any) -> None:
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
    from psycopg import sql

    if data.num_rows == 0:
        return 0
    names = list(data.column_names)
    temp = f"_esteira_upsert_{uuid.uuid4().hex[:8]}"
    target = sql.Identifier(*table.split("."))
    conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING DEFAULTS) "
                         "ON COMMIT DROP").format(sql.Identifier(temp), target))
    copy_arrow_csv(conn, temp, data)
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


def with_orphan_check(dsn: str, interval_ms: int) -> str:
    """The DSN with client_connection_check_interval set for each of its sessions: a
    run killed mid-transaction (no socket left) has its query cancelled and its locks
    released within `interval_ms`, not when the query would have ended (PostgreSQL 14+)."""
    if not interval_ms:
        return dsn
    return with_settings(dsn, {"client_connection_check_interval": str(interval_ms)})


def with_settings(dsn: str, settings: Mapping[str, str]) -> str:
    """The DSN with server settings (work_mem, ...) for each of its sessions (libpq's
    `options`, added to any it has)."""
    options = conninfo_to_dict(dsn).get("options") or ""
    extra = " ".join(f"-c {name}={value}" for name, value in settings.items() if value)
    return make_conninfo(dsn, options=f"{options} {extra}".strip()) if extra else dsn
