"""What every command group shares: the global options, settings and session access.

Command modules stay thin: parse options, call `settings()` / `session()`, then one
`job.run(...)`. Global options (--engine, --master, --remote, ...) are stored here by
the root callback in esteira.cli.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

from esteira.settings import Settings, load_settings

_overrides: dict[str, Any] = {}
_settings: Settings | None = None


def set_overrides(**values: Any) -> None:
    global _settings  # noqa: PLW0603 - the CLI process holds one settings object
    spark = {k: values.pop(k) for k in ("master", "remote") if values.get(k) is not None}
    values = {k: v for k, v in values.items() if v is not None}
    if spark:
        values["spark"] = spark
    _overrides.clear()
    _overrides.update(values)
    _settings = None


def settings() -> Settings:
    global _settings  # noqa: PLW0603
    if _settings is None:
        _settings = load_settings(**_overrides)
    return _settings


def session() -> SparkSession:
    from esteira.engine import get_session
    from esteira.logs import step

    s = settings()
    with step(f"Starting engine {s.engine}"):
        return get_session(s)
