"""Shared fixtures: one session per engine for the whole suite, fresh folders per test.

`spark` is parametrized over both engines, so every engine-dependent test runs on
embedded Sail and on JVM Spark local. ESTEIRA_TEST_ENGINES=sail limits the set locally.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from esteira import cli
from esteira.engine import get_session
from esteira.settings import Settings, load_settings

pytest_plugins = ["service_fixtures"]  # kafka_bootstrap, kafka_topic, pg_conninfo, pg_schema

# Tiny test frames: fewer shuffle partitions make JVM stages much cheaper.
os.environ.setdefault("ESTEIRA_SHUFFLE_PARTITIONS", "2")

ENGINES = [e for e in os.environ.get("ESTEIRA_TEST_ENGINES", "sail,spark").split(",") if e]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def spark(engine: str) -> Iterator[SparkSession]:
    session = get_session(load_settings(engine=engine, home=REPO / ".esteira"))
    yield session


@pytest.fixture
def settings(engine: str, tmp_path: Path) -> Settings:
    return load_settings(engine=engine, home=REPO / ".esteira")


@pytest.fixture
def run_cli(engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch):
    """Runs `esteira --engine <engine> ...` in-process; returns (exit code, stdout, stderr).

    In-process so the suite's engine sessions are reused; the run log goes to tmp_path.
    """
    monkeypatch.setenv("ESTEIRA_HOME", str(REPO / ".esteira"))

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(["--engine", engine, *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke
