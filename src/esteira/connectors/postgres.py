"""PostgreSQL from Python (psycopg 3) and from Spark (the JDBC reader): connections,
session settings, reads. Writes (bulk, atomic) are in `postgres_write`.

Every function takes a libpq DSN (`esteira.endpoints.postgres_dsn(settings)` resolves
the configured or local server); the password inside it is never logged and never part
of an error message (`describe` prints a DSN without it).
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pyspark.sql import DataFrame, SparkSession

from esteira.errors import ServiceError, first_line

JDBC_DRIVER = "org.postgresql.Driver"
LOOPBACK = "127.0.0.1"  # libpq's default host when a DSN names none
log = logging.getLogger(__name__)


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
    types: Mapping[str, str] | None = None,
) -> DataFrame:
    """A PostgreSQL table or query as a DataFrame, on either engine.

    JVM Spark uses its own JDBC source (driver from the Maven step); Sail has none
    built in, so pysail's JDBC reader (connectorx) is registered on first use.
    `split` = (integer column, lowest, highest, parts): read in that many ranges of the
    column at once, one connection each (both engines' JDBC partitioning options).
    `types`: the columns the read returns, in order, with their declared types
    (column_types): on Sail its schema is made from them instead of asked of the
    database (sail_jdbc.py).
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
        if session in _SAIL_JDBC:  # this read's schema asked once (sail_jdbc.py)
            options[READ_TOKEN] = uuid.uuid4().hex
            if types and (known := _sail_schema(types)) is not None:
                options[SCHEMA_OPTION] = known
        try:
            frame = session.read.format("jdbc").options(**options).load()
            frame.schema  # noqa: B018 - analyse now, so a missing table fails here
            return frame
        except Exception as exc:  # AnalysisException (Connect or classic), Py4JJavaError
            if attempt == 1 and NO_JDBC in str(exc):
                _register_sail_jdbc(session)
                continue
            raise ServiceError(
                f"cannot read {source} from PostgreSQL {describe(dsn)}: {first_line(exc)}"
            ) from None
    raise AssertionError("unreachable")


NO_JDBC = "No data source found for: jdbc"
READ_TOKEN = "esteira.read"  # an option pysail ignores: one value per read (sail_jdbc.py)
SCHEMA_OPTION = "esteira.schema"  # the read's schema, when the caller knows its types
_SAIL_JDBC: weakref.WeakSet[SparkSession] = weakref.WeakSet()  # sessions with it registered


def is_sail_jdbc(session: SparkSession) -> bool:
    """True when `session` reads PostgreSQL through pysail's source (sail_jdbc.py)."""
    return session in _SAIL_JDBC


def _sail_schema(types: Mapping[str, str]) -> str | None:
    from esteira.connectors.sail_jdbc import encoded_schema

    return encoded_schema(types)


def _register_sail_jdbc(session: SparkSession) -> None:
    try:
        from esteira.connectors.sail_jdbc import OnceJdbcDataSource
    except ImportError as exc:
        raise ServiceError(
            f"engine sail reads PostgreSQL through pysail's JDBC source, which needs "
            f"connectorx ({exc}): pip install -e . in the venv"
        ) from None
    session.dataSource.register(OnceJdbcDataSource)
    _SAIL_JDBC.add(session)


def column_types(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """column -> its declared type (numeric(10,2), timestamp with time zone, ...)."""
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (table,),
    ).fetchall()
    return dict(rows)


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
