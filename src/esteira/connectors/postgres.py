"""PostgreSQL from Python (psycopg 3) and from Spark (the JDBC reader/writer).

`conninfo(settings)` points at the configured external server (`postgres.host`) or at
the local one started by `esteira services up` (on whatever port it really took). The
password comes from ESTEIRA_POSTGRES__PASSWORD (see esteira.services.postgres for the
local server's generated one); it is never logged and never part of an error message.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from esteira.errors import ServiceError
from esteira.services import postgres as local_server
from esteira.services.local import LOOPBACK
from esteira.settings import Settings

JDBC_DRIVER = "org.postgresql.Driver"


def conninfo(settings: Settings, **overrides: Any) -> str:
    """A libpq connection string for the configured database (keywords may be overridden)."""
    cfg = settings.postgres
    return make_conninfo(
        host=cfg.host or LOOPBACK,
        port=local_server.port(settings),
        dbname=cfg.database,
        user=cfg.user,
        password=local_server.password(settings),
        connect_timeout=10,
        application_name="esteira",
        **overrides,
    )


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
