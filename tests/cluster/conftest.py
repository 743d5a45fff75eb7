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
from collections.abc import Iterator
from pathlib import Path

import pytest

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
def sail_run(cluster_home: Path, tmp_path_factory: pytest.TempPathFactory) -> subprocess.Popen:
    """The inputs and the reference outputs on Sail, started before the cluster so that
    both start-ups overlap."""
    root = tmp_path_factory.mktemp("sail")
    return _start_jobs(cluster_home, root / "inputs", root / "out", ["--engine", "sail"],
                       generate=True)


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
def master_outputs(
    local_cluster: cluster.ClusterStatus, inputs: Path, cluster_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out = tmp_path_factory.mktemp("master") / "out"
    options = ["--engine", "spark", "--master", local_cluster.master_url]
    return _finish(_start_jobs(cluster_home, inputs, out, options))


@pytest.fixture(scope="session")
def remote_outputs(
    local_cluster: cluster.ClusterStatus, inputs: Path, cluster_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out = tmp_path_factory.mktemp("remote") / "out"
    options = ["--engine", "spark", "--remote", local_cluster.connect_url]
    return _finish(_start_jobs(cluster_home, inputs, out, options))


def _start_jobs(home: Path, inputs: Path, out: Path, options: list[str],
                generate: bool = False) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CONNECT_MODE_ENABLED"}
    env.update(ESTEIRA_HOME=str(home), ESTEIRA_SPARK__DRIVER_MEMORY="1g")
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
