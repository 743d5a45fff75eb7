"""Which warehouse a run talks to (the PostgreSQL database or the Delta tables), and the
commands that only look at it or drop it: `warehouse status`, `history`, `reset`."""

from __future__ import annotations

from psycopg.conninfo import make_conninfo
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from esteira import endpoints
from esteira.connectors.postgres import with_orphan_check, with_settings
from esteira.settings import Settings
from esteira.warehouse.delta_target import DeltaTarget
from esteira.warehouse.pg_target import PostgresTarget
from esteira.warehouse.raw_mirror import RawMirror


def source_dsn(settings: Settings) -> str:
    return with_orphan_check(make_conninfo(endpoints.postgres_dsn(settings),
                                            dbname=settings.warehouse.source_database),
                              settings.warehouse.orphan_check_ms)


def make_target(settings: Settings, session: SparkSession) -> PostgresTarget | DeltaTarget:
    """The configured warehouse: the PostgreSQL database (default) or Delta tables."""
    cfg = settings.warehouse
    if cfg.target == "delta":
        return DeltaTarget(session, cfg.delta_root)
    dsn = with_orphan_check(make_conninfo(endpoints.postgres_dsn(settings),
                                           dbname=cfg.database), cfg.orphan_check_ms)
    # no JIT: it compiled each query over the big tables (60-80 ms each, many per run)
    # for plans that run for well under a second
    dsn = with_settings(dsn, {"work_mem": cfg.work_mem, "jit": "off"})
    # the embedded Sail server writes where this process reads: its frames reach the
    # bulk load as Parquet copies (faster than over Spark Connect)
    scratch = settings.home / "warehouse" / "scratch" if settings.engine == "sail" else None
    # and keeps copies of the raw small tables there, to compare the next source with
    mirror = RawMirror(session, settings.home / "warehouse" / "mirror" / (
        f"{cfg.database}.{cfg.dw_schema}")) if scratch is not None else None
    return PostgresTarget(session, dsn, cfg.dw_schema, cfg.jdbc_batch_size, cfg.flat_parts,
                          scratch, mirror)


def status(settings: Settings, session: SparkSession | None) -> list[dict[str, object]]:
    """Each table's rows, last load and high-water mark (`warehouse status`)."""
    from esteira.warehouse.schemas import TABLES

    target = make_target(settings, session)  # type: ignore[arg-type]
    marks = target.marks()
    counts = target.counts(list(TABLES))
    return [{"tabela": table, "linhas": counts.get(table),
             "ultima_carga": marks.get(table, {}).get("ultima_carga"),
             "high_water_mark": marks.get(table, {}).get("high_water_mark")}
            for table in TABLES]


def history(settings: Settings, session: SparkSession, associado: int) -> list[dict]:
    """One associado's versions, oldest first (`warehouse history`)."""
    frame = make_target(settings, session).read("dim_associado")
    rows = frame.filter(F.col("id_associado") == associado).orderBy("valid_from").collect()
    return [r.asDict() for r in rows]


def reset(settings: Settings, session: SparkSession | None) -> None:
    """Drops the warehouse's tables (`warehouse reset --yes`)."""
    make_target(settings, session).reset()  # type: ignore[arg-type]
