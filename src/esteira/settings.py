"""One typed settings object for every system.

Sources, strongest first: explicit overrides (CLI flags), ESTEIRA_* environment
variables (nested with `__`, e.g. ESTEIRA_SPARK__MASTER), then conf/esteira.yaml.
Secrets (passwords, tokens) are accepted only from the environment; a secret found in
the YAML file is a configuration error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from esteira.alerts import AlertSettings
from esteira.billing.config import BillingSettings
from esteira.chatbot.config import ChatbotSettings
from esteira.errors import ConfigError
from esteira.invoices.config import InvoicesSettings
from esteira.locations import refuse_in_settings
from esteira.notifications.config import NotificationsSettings
from esteira.orchestrate.config import RunSettings
from esteira.orders.config import OrdersSettings
from esteira.portfolio.config import PortfolioSettings
from esteira.quarantine.config import QuarantineSettings
from esteira.services.config import ClusterSettings, KafkaSettings, PostgresSettings
from esteira.warehouse.config import WarehouseSettings
from esteira.web.config import WebSettings

DEFAULT_CONFIG = Path("conf/esteira.yaml")
SECRET_WORDS = ("password", "secret", "token", "access_key")


class SparkSettings(BaseModel):
    """How the `spark` engine reaches Apache Spark."""

    model_config = ConfigDict(extra="forbid")

    master: str = "local[*]"
    remote: str | None = Field(None, description="Spark Connect URL, e.g. sc://host:15002")
    driver_memory: str = "4g"
    java_options: str = Field("", description="added to the driver JVM's options, e.g. "
                              "'-XX:+UseSerialGC -XX:TieredStopAtLevel=1' for short runs")
    conf: dict[str, str] = Field(default_factory=dict)


class Settings(BaseSettings):
    """Everything esteira reads from configuration."""

    model_config = SettingsConfigDict(
        env_prefix="ESTEIRA_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    engine: Literal["sail", "spark"] = "sail"
    home: Path = Field(Path(".esteira"), description="local state: jars, services, run log")
    shuffle_partitions: int = Field(4, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    timezone: str = "America/Sao_Paulo"
    spark: SparkSettings = Field(default_factory=SparkSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    portfolio: PortfolioSettings = Field(default_factory=PortfolioSettings)
    quarantine: QuarantineSettings = Field(default_factory=QuarantineSettings)
    invoices: InvoicesSettings = Field(default_factory=InvoicesSettings)
    chatbot: ChatbotSettings = Field(default_factory=ChatbotSettings)
    notifications: NotificationsSettings = Field(default_factory=NotificationsSettings)
    run: RunSettings = Field(default_factory=RunSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    orders: OrdersSettings = Field(default_factory=OrdersSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @model_validator(mode="after")
    def _paths_are_paths(self) -> Settings:
        refuse_in_settings(self)
        return self

    @property
    def jars_dir(self) -> Path:
        return self.home / "jars"

    @property
    def runs_file(self) -> Path:
        return self.home / "runs.jsonl"


class _YamlSource(PydanticBaseSettingsSource):
    """Reads conf/esteira.yaml (or $ESTEIRA_CONFIG) and refuses secrets in it."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_path()
        if path is None:
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of settings")
        _refuse_secrets(data, str(path), "")
        return data


def config_path() -> Path | None:
    """The config file in use: $ESTEIRA_CONFIG, else conf/esteira.yaml when present."""
    explicit = os.environ.get("ESTEIRA_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"ESTEIRA_CONFIG names {path}, which does not exist")
        return path
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _refuse_secrets(node: Any, path: str, prefix: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if any(word in str(key).lower() for word in SECRET_WORDS) and value not in (None, ""):
                env = "ESTEIRA_" + dotted.upper().replace(".", "__")
                raise ConfigError(
                    f"{path}: {dotted} is a secret; set it in the environment ({env}), "
                    "never in a file"
                )
            _refuse_secrets(value, path, dotted + ".")


def load_settings(**overrides: Any) -> Settings:
    """Builds the settings, turning validation problems into one ConfigError line."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(root)"
            problems.append(f"{key}: {err['msg']}")
        source = config_path() or "environment"
        raise ConfigError(f"invalid configuration ({source}): " + "; ".join(problems)) from None
