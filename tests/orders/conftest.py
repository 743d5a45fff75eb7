"""Fixtures of the orders tests: settings pointing at a private topic, schema and folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from esteira.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def orders_settings(engine: str, kafka_topic: Callable[..., str], pg_schema: str,
                    tmp_path: Path) -> Callable[..., Settings]:
    """settings(alerts=None, **orders_overrides): engine of the pass, a fresh topic (3
    partitions) and DLQ topic, the test's PostgreSQL schema, checkpoint and state under
    tmp_path; `alerts` overrides the platform's alert section."""
    topic = kafka_topic(partitions=3)
    dlq = kafka_topic(partitions=1)

    def make(alerts: dict | None = None, **overrides) -> Settings:
        orders = {"topic": topic, "dlq_topic": dlq, "pg_schema": pg_schema,
                  "root": str(tmp_path / "orders"), "trigger_seconds": 0, **overrides}
        return load_settings(engine=engine, home=REPO / ".esteira", orders=orders,
                             alerts=alerts)

    return make

