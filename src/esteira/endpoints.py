"""Where the services are: the one place that turns settings into endpoint values.

Connectors take plain values (a bootstrap string, a libpq DSN) and never look at
settings or at the local services' state; jobs ask here. An external Kafka or
PostgreSQL named in the config wins; otherwise the local one started by
`esteira services up`, on the port it really took (remembered in its state file).
The DSN carries the password: never log it (`connectors.postgres.describe` prints
a DSN without it).
"""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import make_conninfo

from esteira.services import kafka as kafka_service
from esteira.services import postgres as pg_service
from esteira.services.local import LOOPBACK
from esteira.settings import Settings


def kafka_bootstrap(settings: Settings) -> str:
    """host:port[,host:port]: the configured cluster, else the local broker."""
    return kafka_service.bootstrap_servers(settings)


def postgres_dsn(settings: Settings, **overrides: Any) -> str:
    """A libpq connection string for the configured database (keywords may be overridden)."""
    cfg = settings.postgres
    return make_conninfo(
        host=cfg.host or LOOPBACK,
        port=pg_service.port(settings),
        dbname=cfg.database,
        user=cfg.user,
        password=pg_service.password(settings),
        connect_timeout=10,
        application_name="esteira",
        **overrides,
    )
