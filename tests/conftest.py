"""Shared fixtures: one engine session for the whole run, fresh folders per test.

pyspark runs either Spark Connect sessions or one JVM session in a process, never both,
so the suite runs once per engine (`make test` does both passes):

    ESTEIRA_TEST_ENGINE=sail  pytest   # every test; engine tests on embedded Sail
    ESTEIRA_TEST_ENGINE=spark pytest   # only the tests that use an engine, on JVM Spark

Test ids carry the engine ([sail] / [spark]).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from esteira import cli, streaming
from esteira.engine import get_session
from esteira.settings import Settings, load_settings

pytest_plugins = ["service_fixtures"]  # kafka_bootstrap, kafka_topic, pg_conninfo, pg_schema

# Tiny test frames: fewer shuffle partitions make JVM stages much cheaper.
os.environ.setdefault("ESTEIRA_SHUFFLE_PARTITIONS", "2")
# Short JVMs (the child processes tests start: killed runs, streams): the serial collector
# and C1 alone took 15-30% off a cold session + write + MERGE on 2 cores (3 Dec 2026:
# 36-58 s against 52-70 s), where G1 and C2 compete with the driver for the cores. The
# suite's own JVM lives for the whole pass and keeps the defaults (`spark` below): with
# these options two notifications test files took 219 s against 186 s.
os.environ.setdefault("ESTEIRA_SPARK__JAVA_OPTIONS", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1")

ENGINE = os.environ.get("ESTEIRA_TEST_ENGINE", os.environ.get("ESTEIRA_TEST_ENGINES", "sail"))
if ENGINE not in ("sail", "spark"):
    raise pytest.UsageError("ESTEIRA_TEST_ENGINE must be sail or spark (one engine per run)")
REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the JVM pass, keep only the tests that depend on the engine."""
    if ENGINE == "sail":
        return
    keep = [item for item in items if "engine" in getattr(item, "fixturenames", ())]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session", params=[ENGINE])
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def spark(engine: str) -> Iterator[SparkSession]:
    session = get_session(load_settings(engine=engine, home=REPO / ".esteira",
                                        spark={"java_options": ""}))
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


@pytest.fixture
def stream_session(engine: str, spark: SparkSession) -> Iterator[SparkSession]:
    """The suite's JVM session for a stream run in this process (notifications, orders),
    its settings put back after the stream changed them."""
    if engine != "spark":
        pytest.skip("the Kafka source needs JVM Spark")
    keys = [*streaming.STREAMING_CONF, "spark.sql.shuffle.partitions"]
    saved = {key: spark.conf.get(key, None) for key in keys}
    yield spark
    for key, value in saved.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)
