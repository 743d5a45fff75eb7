"""Settings of the local/external services (Kafka, PostgreSQL)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


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
