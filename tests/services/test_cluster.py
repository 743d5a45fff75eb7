"""`esteira services cluster up|status|down` on a private home: one worker to keep it cheap.

The full two-worker cluster running every job is tests/cluster (make test-cluster).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from esteira import cli
from esteira.errors import ConfigError
from esteira.services import cluster, local
from esteira.services.local import pid_alive, port_answers, read_state, wait_until
from esteira.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cluster_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="esteira-cluster-svc-"))
    (home / "jars").mkdir()
    (home / "jars" / "spark").symlink_to(REPO / ".esteira" / "jars" / "spark")
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_up_status_down_with_taken_ports(cluster_home: Path, monkeypatch, capsys) -> None:
    """The configured master port is taken (a free one is chosen and said so), and the
    port chosen for Connect is taken after it was seen free, the race CI once lost:
    Spark binds the next one, and the cluster must record where Connect really is."""
    monkeypatch.setenv("ESTEIRA_HOME", str(cluster_home))
    monkeypatch.setenv("ESTEIRA_CLUSTER__WORKERS", "1")
    with socket.socket() as busy, socket.socket() as raced:
        for sock in (busy, raced):
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        taken, lost = busy.getsockname()[1], raced.getsockname()[1]
        monkeypatch.setenv("ESTEIRA_CLUSTER__MASTER_PORT", str(taken))
        choose = local.choose_port
        monkeypatch.setattr(local, "choose_port", lambda name, *args: (
            lost if name == "Spark Connect" else choose(name, *args)))
        settings = load_settings()
        try:
            _lifecycle(settings, taken, lost, capsys)
        finally:
            cluster.down(settings)


def _lifecycle(settings, taken: int, lost: int, capsys) -> None:
    assert not cluster.status(settings).running

    first = cluster.up(settings)
    assert first.running and first.workers == 1 and first.version == "4.1.1", first.notes
    assert first.port != taken and first.master_url == f"spark://127.0.0.1:{first.port}"
    assert f"port {taken} is taken; the Spark master uses free port {first.port} instead" in (
        first.notes)
    connect_port = int(first.connect_url.rsplit(":", 1)[1])
    assert connect_port != lost
    assert f"port {lost} was taken while Spark Connect started; it listens on {connect_port}" in (
        first.notes)
    logs = settings.home / "services"
    assert (logs / "cluster-master.log").stat().st_size > 0
    assert (logs / "cluster-connect.log").stat().st_size > 0

    from pyspark.sql.connect.session import SparkSession as ConnectSession

    session = ConnectSession.builder.remote(first.connect_url).create()
    try:  # 0 + 1 + ... + 99, computed by the cluster's executor
        assert session.range(100).selectExpr("sum(id) AS s").first()["s"] == 4950
    finally:
        session.stop()

    again = cluster.up(settings)
    assert again.notes == ["already running"] and again.pid == first.pid

    capsys.readouterr()
    assert cli.main(["services", "cluster", "status"]) == 0
    out = capsys.readouterr().out
    assert f"cluster: running, master {first.master_url} (pid {first.pid}, 1 workers" in out
    assert first.connect_url in out

    # a worker that died leaves a cluster that is not "running"; down stops the rest
    state = read_state(settings, cluster.NAME)
    executors = [c.pid for w in state["workers"] for c in psutil.Process(w).children(True)]
    os.kill(state["workers"][0], signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(state["workers"][0]), timeout=10)
    dead = cluster.status(settings)
    assert not dead.running and dead.notes == ["0 of 1 workers run"]
    stopped = cluster.down(settings)
    assert not stopped.running
    for pid in [state["master"], state["connect"], *state["workers"], *executors]:
        assert not pid_alive(pid)
    assert not _cluster_listens(first.port)
    assert not _cluster_listens(int(first.connect_url.rsplit(":", 1)[1]))


def _cluster_listens(port: int) -> bool:
    """True when a cluster process (master, worker or Connect server) still listens on
    `port`. Not "the port answers": `make test` runs the JVM pass beside this one, and a
    freed port can be another process's ephemeral one a moment later (CI saw it)."""
    if not port_answers(port):
        return False
    classes = (cluster.MASTER_CLASS, cluster.WORKER_CLASS, cluster.CONNECT_CLASS)
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        try:
            command = " ".join(psutil.Process(conn.pid).cmdline()) if conn.pid else ""
        except psutil.Error:
            continue
        if any(name in command for name in classes):
            return True
    return False


def test_memory_sizes_are_checked(monkeypatch) -> None:
    monkeypatch.setenv("ESTEIRA_CLUSTER__WORKER_MEMORY", "2 GB")
    with pytest.raises(ConfigError, match="cluster.worker_memory"):
        load_settings()


def test_status_of_a_cluster_never_started(cluster_home: Path) -> None:
    found = cluster.status(load_settings(home=cluster_home))
    assert not found.running
    assert found.describe() == f"cluster: not running (data: {cluster_home.resolve()}/cluster)"
