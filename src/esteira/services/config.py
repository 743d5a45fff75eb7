"""Settings of the local/external services (Kafka, PostgreSQL)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class KafkaSettings(BaseModel):
    """A broker started by esteira on loopback, unless bootstrap_servers names one."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str | None = Field(
        None, description="an external cluster (host:port,...): esteira then starts no broker"
    )
    port: int = Field(9092, ge=1, le=65535, description="local broker; a free one if taken")
    heap: str = Field("512m", description="JVM heap of the local broker (-Xmx)")
    start_timeout: float = Field(90.0, gt=0, description="seconds `up` waits for the broker")


class PostgresSettings(BaseModel):
    """A server started by esteira on loopback, unless host names one."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, description="an external server: esteira then starts none")
    port: int = Field(5432, ge=1, le=65535, description="local server; a free one if taken")
    database: str = "esteira"
    user: str = "esteira"
    password: SecretStr | None = None  # only from ESTEIRA_POSTGRES__PASSWORD
    os_user: str = Field(
        "postgres", description="unprivileged account that runs the local server when as root"
    )
    start_timeout: float = Field(60.0, gt=0, description="seconds `up` waits for the server")
    server_settings: dict[str, str] = Field(
        default_factory=lambda: dict(LOCAL_SERVER_SETTINGS),
        description="postgresql.conf settings of the local server (written at each start)",
    )

    @field_validator("server_settings")
    @classmethod
    def _plain_settings(cls, value: dict[str, str]) -> dict[str, str]:
        for name, setting in value.items():
            if not re.fullmatch(r"[a-z_][a-z0-9_.]*", name) or re.search(r"['\\\n]", setting):
                raise ValueError(f"postgres.server_settings: {name!r} is not a plain setting")
        return value


# The local server is a warehouse's bulk loader too: PostgreSQL's defaults (128MB of
# shared buffers, a checkpoint every 1GB of WAL) made a 5M-row load checkpoint several
# times and evict the indexes it was filling. It is no replication primary: wal_level
# minimal lets a table emptied and filled in one transaction (the warehouse's first
# loads) skip the WAL, which PostgreSQL otherwise writes for every row and index page.
LOCAL_SERVER_SETTINGS = {"shared_buffers": "512MB", "max_wal_size": "4GB",
                         "wal_level": "minimal", "max_wal_senders": "0"}


class ClusterSettings(BaseModel):
    """The local Spark standalone cluster and Spark Connect server (`esteira services cluster`).

    Sized for a laptop: each worker offers room for one executor of the Connect server
    (`executor_memory`) and one of a `--master spark://...` job (Spark's default 1g).
    """

    model_config = ConfigDict(extra="forbid")

    master_port: int = Field(7077, ge=1, le=65535, description="master RPC; a free one if taken")
    ui_port: int = Field(8080, ge=1, le=65535, description="master web UI; a free one if taken")
    connect_port: int = Field(
        15002, ge=1, le=65535, description="Spark Connect (sc://); a free one if taken"
    )
    workers: int = Field(2, ge=1, le=8)
    worker_cores: int = Field(2, ge=1, description="cores each worker offers to executors")
    worker_memory: str = Field("2g", pattern=r"^\d+[mg]$", description="memory each offers")
    executor_memory: str = Field(
        "512m", pattern=r"^\d+[mg]$", description="per executor of the Connect server"
    )
    connect_memory: str = Field(
        "1g", pattern=r"^\d+[mg]$", description="the Connect server's driver heap"
    )
    daemon_memory: str = Field(
        "256m", pattern=r"^\d+[mg]$", description="heap of the master and of each worker"
    )
    start_timeout: float = Field(180.0, gt=0, description="seconds `up` waits for each part")
