"""Settings of the SiCooperative warehouse (a section of esteira.settings.Settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WarehouseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Literal["postgres", "delta"] = Field(
        "postgres", description="postgres (the seed's DW database) or delta (a lakehouse)"
    )
    source_database: str = Field("sicooperative", description="the transactional source")
    source_schema: str = "public"
    database: str = Field("sicooperative_dw", description="the warehouse (target postgres)")
    dw_schema: str = Field("public", description="the warehouse's schema")
    delta_root: Path = Field(
        Path(".esteira/warehouse/delta"), description="folder of the Delta tables (target delta)"
    )
    timezone: str = Field(
        "America/Sao_Paulo",
        description="zone of the source's timestamps without zone, and of dim_data's days",
    )
    flat_file: Path = Field(Path("data/output/movimento_flat.csv"))
    flat_delimiter: str = Field(",", min_length=1, max_length=1)
    flat_encoding: str = "utf-8"
    unknown_key: int = Field(-1, description="surrogate key of every dimension's unknown member")
    open_end: str = Field("9999-12-31", description="valid_to of a current SCD2 version")
    first_version_from: str = Field(
        "1900-01-01", description="movements older than an associado's first version use it"
    )
    jdbc_batch_size: int = Field(10_000, ge=1, description="rows per JDBC batch (engine spark)")
    orphan_check_ms: int = Field(
        2000, ge=0, description="PostgreSQL 14+ cancels the query of a client gone this long "
        "(client_connection_check_interval; 0: never), so a killed run's locks go quickly")
    work_mem: str = Field(
        "256MB", pattern=r"^(\d+(kB|MB|GB)?)?$",
        description="PostgreSQL work_mem of the warehouse's sessions: the flat file's sort "
        "and a full load's key-ordered inserts stay in memory (4MB, the server's default, "
        "spilled them to disk: the flat file's COPY took 40 s instead of 22); empty: the "
        "server's")
    flat_parts: int = Field(
        2, ge=1, le=16, description="connections that render a whole movimento_flat.csv at "
        "once, each a run of days on the same snapshot (PostgreSQL renders on one core per "
        "connection)")
    read_partitions: int = Field(
        2, ge=1, le=64, description="id ranges the source's movements are read in at once "
        "(one connection each; both engines)")
