"""A source and a warehouse of its own for each test: two fresh schemas in the suite's
PostgreSQL database (never the default sicooperative databases), and a Delta folder.

`wh` gives the settings (ESTEIRA_WAREHOUSE__* set too, for the CLI), SQL helpers on
both schemas and `run(steps)`, which runs the job in-process on the suite's session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg import sql

from esteira.connectors import postgres as pg
from esteira.datagen.warehouse import DDL
from esteira.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Warehouse:
    settings: Settings
    dsn: str
    source: str
    dw: str
    spark: object

    def source_sql(self, statement: str, params: tuple | dict | None = None) -> None:
        with pg.connect(self.dsn) as conn, conn.transaction():
            conn.execute(statement.replace("{s}", self.source), params)

    def dw_rows(self, query: str, params: tuple | None = None) -> list[tuple]:
        """Rows of a query on the warehouse (its tables as {t}.name; Delta tables are read
        through the engine into a temp view of the same name)."""
        if self.settings.warehouse.target == "postgres":
            with pg.connect(self.dsn) as conn:
                return conn.execute(query.replace("{t}", self.dw), params).fetchall()
        from esteira.connectors import delta

        root = self.settings.warehouse.delta_root
        text = query
        for table in sorted({p.name for p in root.iterdir()}, key=len, reverse=True):
            if f"{{t}}.{table}" in text and delta.exists(root / table):
                view = f"v_{table}"
                delta.read(self.spark, root / table).createOrReplaceTempView(view)
                text = text.replace(f"{{t}}.{table}", view)
        return [tuple(r) for r in self.spark.sql(text).collect()]  # type: ignore[attr-defined]

    def run(self, *steps: str, on: str | None = None, now: datetime | None = None):
        from esteira.warehouse import job

        request = job.WarehouseRequest.parse(self.settings.warehouse, on=on, now=now)
        if steps:
            request = job.WarehouseRequest(steps, request.load_date, request.load_ts)
        return job.run(self.settings, self.spark, request)


def make_settings(engine: str, tmp_path: Path, source: str, dw: str, target: str) -> Settings:
    return load_settings(
        engine=engine, home=REPO / ".esteira",
        warehouse={"target": target, "source_database": "esteira", "source_schema": source,
                   "database": "esteira", "dw_schema": dw, "delta_root": str(tmp_path / "dl"),
                   "flat_file": str(tmp_path / "out" / "movimento_flat.csv")},
    )


@pytest.fixture
def wh_schemas(pg_conninfo: str) -> Iterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:8]
    names = (f"wh_src_{tag}", f"wh_dw_{tag}")
    with pg.connect(pg_conninfo, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        conn.execute(DDL.replace("{s}", names[0]))
    yield names
    with pg.connect(pg_conninfo, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=["postgres", "delta"])
def target(request: pytest.FixtureRequest, engine: str) -> str:
    """Both targets on Sail; on the JVM engine the Delta target (delta-spark's MERGE, the
    Databricks case) only in the tests marked `jvm_delta`: a JVM chain run on Delta costs
    30-50 s, and what else differs by target is engine-independent code run on Sail."""
    if (request.param == "delta" and engine == "spark"
            and request.node.get_closest_marker("jvm_delta") is None):
        pytest.skip("the Delta target on the JVM engine runs in the tests marked jvm_delta")
    return request.param


@pytest.fixture
def wh(engine: str, spark, pg_conninfo: str, wh_schemas, tmp_path: Path, monkeypatch,
       request: pytest.FixtureRequest) -> Warehouse:
    chosen = request.getfixturevalue("target") if "target" in request.fixturenames else "postgres"
    source, dw = wh_schemas
    settings = make_settings(engine, tmp_path, source, dw, chosen)
    for key, value in settings.warehouse.model_dump(mode="json").items():
        monkeypatch.setenv(f"ESTEIRA_WAREHOUSE__{key.upper()}", str(value))
    return Warehouse(settings, pg_conninfo, source, dw, spark)


def ts(text: str) -> datetime:
    """An ISO instant with its offset, as a UTC datetime (what the warehouse stores)."""
    return datetime.fromisoformat(text).astimezone(UTC)
