"""A real Spark cluster for the tests: standalone master, two workers, Spark Connect.

Started by the same code as `esteira services cluster up` (esteira.services.cluster) in
a private home under /tmp, and stopped by process id at the end. These tests run in
`make test-cluster` (ESTEIRA_TEST_CLUSTER=1), which .ci/run runs after `make test`:
a cluster and its executors take minutes and several GB that the two engine passes
should not pay for on every run.

The jobs run as child processes (tests/cluster/jobs.py): pyspark holds a JVM session or
Connect sessions per process, never both, and the reference run on Sail needs its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from esteira.services import cluster
from esteira.services.local import pid_alive, read_state
from esteira.settings import Settings, load_settings

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FLAG = "ESTEIRA_TEST_CLUSTER"
JOB_TIMEOUT = 1800  # seconds for all jobs of one run on a loaded 2-core machine


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside `make test-cluster` the cluster tests are deselected (said in the summary)."""
    if os.environ.get(FLAG) == "1":
        return
    mine = [i for i in items if Path(str(i.path)).is_relative_to(HERE)]
    if mine:
        config.hook.pytest_deselected(items=mine)
        items[:] = [i for i in items if i not in mine]


@pytest.fixture(scope="session")
def cluster_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="esteira-cluster-"))
    (home / "jars").mkdir()
    (home / "jars" / "spark").symlink_to(REPO / ".esteira" / "jars" / "spark")
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster_settings(cluster_home: Path) -> Settings:
    return load_settings(home=cluster_home)


@pytest.fixture(scope="session")
def warehouse_source(pg_conninfo: str) -> Iterator[dict[str, str]]:
    """The suite's PostgreSQL and a fresh schema for SiCooperative's source database,
    as environment for the job processes (the warehouse job reads it over JDBC from
    every engine); the schema is dropped at the end."""
    from esteira.datagen.warehouse import _ensure_databases

    shared = load_settings(home=REPO / ".esteira")
    source = shared.warehouse.source_database
    _ensure_databases(shared, [source, shared.warehouse.database])
    schema = f"cluster_{uuid.uuid4().hex[:8]}"
    info = conninfo_to_dict(pg_conninfo)
    yield {
        "ESTEIRA_POSTGRES__HOST": str(info["host"]),
        "ESTEIRA_POSTGRES__PORT": str(info["port"]),
        "ESTEIRA_POSTGRES__USER": str(info["user"]),
        "ESTEIRA_POSTGRES__PASSWORD": str(info["password"]),
        "ESTEIRA_WAREHOUSE__SOURCE_SCHEMA": schema,
    }
    with psycopg.connect(make_conninfo(pg_conninfo, dbname=source), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="session")
def sail_run(
    cluster_home: Path, warehouse_source: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[subprocess.Popen]:
    """The inputs and the reference outputs on Sail, started before the cluster so that
    both start-ups overlap."""
    root = tmp_path_factory.mktemp("sail")
    run = _start_jobs(cluster_home, root / "inputs", root / "out", ["--engine", "sail"],
                      warehouse_source, generate=True)
    yield run
    _stop([run])


@pytest.fixture(scope="session")
def local_cluster(
    cluster_settings: Settings, sail_run: subprocess.Popen
) -> Iterator[cluster.ClusterStatus]:
    try:
        found = cluster.up(cluster_settings)
        yield found
    finally:
        state = read_state(cluster_settings, cluster.NAME)
        cluster.down(cluster_settings)
        pids = [state.get("master"), state.get("connect"), *state.get("workers", [])]
        assert not [p for p in pids if pid_alive(p)], "a cluster process outlived `down`"


@pytest.fixture(scope="session")
def sail_outputs(sail_run: subprocess.Popen) -> Path:
    return _finish(sail_run)


@pytest.fixture(scope="session")
def inputs(sail_outputs: Path) -> Path:
    return sail_outputs.parent / "inputs"


@pytest.fixture(scope="session")
def cluster_runs(
    local_cluster: cluster.ClusterStatus, inputs: Path, cluster_home: Path,
    warehouse_source: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, subprocess.Popen]]:
    """The jobs through --master and through --remote, both at once: much of a small
    job on a cluster is waiting (executors starting, task round trips), not work."""
    urls = {"master": local_cluster.master_url, "remote": local_cluster.connect_url}
    # a --master job's executors: 512 MB each is plenty here (Spark's default is 1 GB)
    small = {"master": {"ESTEIRA_SPARK__CONF": '{"spark.executor.memory": "512m"}'}}
    runs = {
        mode: _start_jobs(cluster_home, inputs, tmp_path_factory.mktemp(mode) / "out",
                          ["--engine", "spark", f"--{mode}", url],
                          {**warehouse_source, **small.get(mode, {})})
        for mode, url in urls.items()
    }
    yield runs
    _stop(runs.values())


@pytest.fixture(scope="session")
def master_outputs(cluster_runs: dict[str, subprocess.Popen]) -> Path:
    return _finish(cluster_runs["master"])


@pytest.fixture(scope="session")
def remote_outputs(cluster_runs: dict[str, subprocess.Popen]) -> Path:
    return _finish(cluster_runs["remote"])


def _start_jobs(home: Path, inputs: Path, out: Path, options: list[str],
                extra_env: dict[str, str], generate: bool = False) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CONNECT_MODE_ENABLED"}
    env.update(extra_env, ESTEIRA_HOME=str(home), ESTEIRA_SPARK__DRIVER_MEMORY="1g")
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(HERE / "jobs.py"), "--inputs", str(inputs), "--out", str(out)]
    if generate:
        command.append("--generate")
    log = (out / "run.log").open("w")
    proc = subprocess.Popen([*command, "--", *options], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=REPO)
    proc.out = out  # type: ignore[attr-defined]
    return proc


def _finish(proc: subprocess.Popen) -> Path:
    """Waits for a jobs run; its outputs folder (each job's code in jobs.json)."""
    try:
        proc.wait(timeout=JOB_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    out: Path = proc.out  # type: ignore[attr-defined]
    assert (out / "jobs.json").exists(), (out / "run.log").read_text()[-3000:]
    return out


def _stop(runs) -> None:
    """A run still going when the session ends (a failure, Ctrl-C) is killed, by pid."""
    for proc in runs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
