"""Settings of the local/external services (Kafka, PostgreSQL)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr


class KafkaSettings(BaseModel):
    """A broker started by esteira on loopback, unless bootstrap_servers names one."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str | None = None
    port: int = 9092


class PostgresSettings(BaseModel):
    """A server started by esteira on loopback, unless host names one."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = None
    port: int = 5432
    database: str = "esteira"
    user: str = "esteira"
    password: SecretStr | None = None  # only from ESTEIRA_POSTGRES__PASSWORD
