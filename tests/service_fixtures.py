"""Pytest plugin: one real Kafka broker and one real PostgreSQL for the whole suite.

Registered in tests/conftest.py (`pytest_plugins = ["service_fixtures"]`). The services
are those of the repo's settings (home .esteira): the local ones are started by
`esteira.services.<name>.up` when they are not running yet (a no-op when they are; they
are left running afterwards for the next session, `esteira services down` stops them);
an external Kafka or PostgreSQL named in the config is only checked.

Fixtures
- ``kafka_bootstrap`` (session, str): bootstrap servers, e.g. "127.0.0.1:9092".
- ``kafka_topic`` (function, factory): ``kafka_topic(partitions=1, create=True) -> str``
  returns a topic name unique to this test; with create=True the topic is created first
  (explicit partitions, LogAppendTime). Topics made through it are deleted after the test.
- ``pg_conninfo`` (session, str): libpq connection string (with the application role's
  password) for the application database; use with ``esteira.connectors.postgres``
  (``connect(pg_conninfo)``, ``jdbc_options(pg_conninfo, table)``).
- ``pg_schema`` (function, str): a fresh schema in that database, owned by the
  application role and dropped (CASCADE) after the test: qualify tables with it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from esteira import endpoints
from esteira.connectors import kafka_topics
from esteira.connectors import postgres as pg
from esteira.services import kafka as kafka_service
from esteira.services import postgres as pg_service
from esteira.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]


def _suite_settings() -> Settings:
    return load_settings(home=REPO / ".esteira")


def _unique(request: pytest.FixtureRequest, prefix: str, limit: int) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:limit]
    return f"{prefix}{stem}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    settings = _suite_settings()
    kafka_service.up(settings)
    return endpoints.kafka_bootstrap(settings)


@pytest.fixture
def kafka_topic(
    kafka_bootstrap: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    made: list[str] = []

    def make(partitions: int = 1, create: bool = True) -> str:
        name = _unique(request, "t_", 60).replace("_", "-")
        if create:
            kafka_topics.create_topic(kafka_bootstrap, name, partitions)
        made.append(name)
        return name

    yield make
    kafka_topics.delete_topics(kafka_bootstrap, made)


@pytest.fixture(scope="session")
def pg_conninfo() -> str:
    settings = _suite_settings()
    pg_service.up(settings)
    return endpoints.postgres_dsn(settings)


@pytest.fixture
def pg_schema(pg_conninfo: str, request: pytest.FixtureRequest) -> Iterator[str]:
    from psycopg import sql

    name = _unique(request, "t_", 40)
    with pg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    with pg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
