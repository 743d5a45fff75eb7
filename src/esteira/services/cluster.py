"""The local Spark cluster: a standalone master, its workers and a Spark Connect server.

All from the installed pyspark wheel (its jars hold the Master, Worker and
SparkConnectServer classes; `bin/spark-class` and `bin/spark-submit` start them), all on
loopback, so that the cluster path (`--master spark://...`, `--remote sc://...`) can be
tried on one machine. The Connect server gets the repo's connector jars (Delta, Kafka,
JDBC) and hands them to its executors; a `--master` job ships them itself (esteira.engine).
State (pids, the ports really used) lives in <home>/services/cluster.json, logs in
<home>/services/cluster-*.log, worker and warehouse folders in <home>/cluster/.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from esteira.errors import ServiceError
from esteira.services import local, spark_daemons
from esteira.services.local import LOOPBACK, ServiceStatus
from esteira.settings import Settings

log = logging.getLogger(__name__)
NAME = "cluster"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
_DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


@dataclass
class ClusterStatus(ServiceStatus):
    """ServiceStatus plus the addresses a user passes to `--master` and `--remote`."""

    master_url: str | None = None
    connect_url: str | None = None
    ui_url: str | None = None
    workers: int = 0

    def describe(self) -> str:
        if not self.running:
            return f"{self.name}: not running (data: {self.data_dir})"
        return (
            f"{self.name}: running, master {self.master_url} (pid {self.pid}, "
            f"{self.workers} workers, ui {self.ui_url}), connect {self.connect_url}, "
            f"version {self.version}"
        )


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def paths(settings: Settings) -> dict[str, Path]:
    root = (settings.home / "cluster").resolve()
    logs = local.services_dir(settings).resolve()
    return {
        "root": root,
        "work": root / "work",
        "warehouse": root / "warehouse",
        "master_log": logs / "cluster-master.log",
        "connect_log": logs / "cluster-connect.log",
        "worker_log": logs / "cluster-worker-{n}.log",
    }


def master_url(settings: Settings) -> str:
    """`--master` for the local cluster (its real port, else the configured one)."""
    port = local.read_state(settings, NAME).get("master_port") or settings.cluster.master_port
    return f"spark://{LOOPBACK}:{port}"


def connect_url(settings: Settings) -> str:
    """`--remote` for the local Connect server (its real port, else the configured one)."""
    port = local.read_state(settings, NAME).get("connect_port") or settings.cluster.connect_port
    return f"sc://{LOOPBACK}:{port}"


def status(settings: Settings) -> ClusterStatus:
    state = local.read_state(settings, NAME)
    p = paths(settings)
    missing = _missing(settings, state)
    found = ClusterStatus(
        NAME, not missing, version=_version(), data_dir=p["root"], log_file=p["master_log"]
    )
    if missing and state.get("master"):  # started once: say what is not there
        found.notes = missing
    if not missing:
        found.pid, found.port = state["master"], state["master_port"]
        found.master_url = master_url(settings)
        found.connect_url = connect_url(settings)
        found.ui_url = f"http://{LOOPBACK}:{state['ui_port']}"
        found.workers = spark_daemons.alive_workers(state["ui_port"])
    return found


def _missing(settings: Settings, state: dict[str, Any]) -> list[str]:
    """What keeps the recorded cluster from running; empty when it all runs and answers."""
    missing = []
    for key, marker, what in (("master", MASTER_CLASS, "the master"),
                              ("connect", CONNECT_CLASS, "the Connect server")):
        port = state.get(f"{key}_port", 0)
        if not local.pid_alive(state.get(key), marker):
            missing.append(f"{what} is not running")
        elif not local.port_answers(port):
            missing.append(f"{what} does not answer on port {port}")
    alive = sum(local.pid_alive(pid, WORKER_CLASS) for pid in state.get("workers", []))
    if alive != settings.cluster.workers:
        missing.append(f"{alive} of {settings.cluster.workers} workers run")
    return missing


def up(settings: Settings) -> ClusterStatus:
    """Starts master, workers and Connect server unless all run (then a no-op)."""
    with local.service_lock(settings, NAME):
        current = status(settings)
        if current.running:
            current.notes.append("already running")
            return current
        _stop_all(local.read_state(settings, NAME))  # a partial cluster: start afresh
        return _start(settings)


def down(settings: Settings) -> ClusterStatus:
    """Stops the Connect server, the workers (and their executors), then the master."""
    with local.service_lock(settings, NAME):
        state = local.read_state(settings, NAME)
        _stop_all(state)
        for key in ("master", "workers", "connect"):
            state.pop(key, None)
        local.write_state(settings, NAME, state)
        return status(settings)


def _stop_all(state: dict[str, Any]) -> None:
    parts = [(state.get("connect"), CONNECT_CLASS)]
    parts += [(pid, WORKER_CLASS) for pid in state.get("workers", [])]
    parts.append((state.get("master"), MASTER_CLASS))
    for pid, marker in parts:
        if not local.pid_alive(pid, marker):
            continue
        children = _children(pid)  # a worker's executors: gone with it, else stopped here
        local.terminate(pid, timeout=30, marker=marker)
        for child in children:
            local.terminate(child, timeout=10)


def _children(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _start(settings: Settings) -> ClusterStatus:
    from esteira.engine import connector_jars

    if shutil.which("java") is None:
        raise ServiceError(
            "the Spark cluster needs Java 17: apt-get install openjdk-17-jre-headless"
        )
    jars = connector_jars(settings.jars_dir)
    cfg, p = settings.cluster, paths(settings)
    state = local.read_state(settings, NAME)
    notes: list[str] = []
    ports = {
        "master_port": local.choose_port("the Spark master", cfg.master_port,
                                         state.get("master_port"), notes),
        "ui_port": local.choose_port("the Spark master UI", cfg.ui_port,
                                     state.get("ui_port"), notes),
    }
    wanted = local.choose_port("Spark Connect", cfg.connect_port, state.get("connect_port"), notes)
    ports["connect_port"] = _free_from(ports, wanted)
    for folder in (p["work"], p["warehouse"]):
        folder.mkdir(parents=True, exist_ok=True)
    env = _env(settings)
    state = {**ports, "started": time.time(), "workers": []}
    bin_dir = spark_home() / "bin"
    timeout = cfg.start_timeout
    try:
        state["master"], offset = spark_daemons.spawn(
            [str(bin_dir / "spark-class"), MASTER_CLASS, "--host", LOOPBACK,
             "--port", str(ports["master_port"]), "--webui-port", str(ports["ui_port"])],
            p["master_log"], env,
        )
        local.write_state(settings, NAME, state)
        master_ports = partial(spark_daemons.bound_ports, p["master_log"], offset,
                               "master_port", "ui_port")
        spark_daemons.wait_ready("the Spark master", state["master"], MASTER_CLASS,
                                 p["master_log"], master_ports, timeout)
        spark_daemons.take_bound(state, master_ports(), notes)
        local.write_state(settings, NAME, state)
        master = f"spark://{LOOPBACK}:{state['master_port']}"
        for n in range(1, cfg.workers + 1):
            state["workers"].append(spark_daemons.spawn(
                [str(bin_dir / "spark-class"), WORKER_CLASS, "--host", LOOPBACK,
                 "--cores", str(cfg.worker_cores), "--memory", cfg.worker_memory,
                 "--webui-port", str(local.free_port()), "--work-dir", str(p["work"]), master],
                Path(str(p["worker_log"]).format(n=n)), env,
            )[0])
            local.write_state(settings, NAME, state)
        spark_daemons.wait_ready(
            "the Spark workers", state["master"], MASTER_CLASS, p["master_log"],
            lambda: spark_daemons.alive_workers(state["ui_port"]) >= cfg.workers, timeout)
        state["connect"], offset = spark_daemons.spawn(
            [str(bin_dir / "spark-submit"), "--class", CONNECT_CLASS, "--name", "esteira-connect",
             "--master", master, "--driver-memory", cfg.connect_memory,
             "--jars", ",".join(str(j.resolve()) for j in jars),
             *_confs(settings, ports["connect_port"]), "spark-internal"],
            # the launcher would size a Connect server's heap by SPARK_DAEMON_MEMORY
            p["connect_log"], {k: v for k, v in env.items() if k != "SPARK_DAEMON_MEMORY"},
        )
        local.write_state(settings, NAME, state)
        connect_ports = partial(spark_daemons.bound_ports, p["connect_log"], offset,
                                "connect_port")
        spark_daemons.wait_ready("the Spark Connect server", state["connect"], CONNECT_CLASS,
                                 p["connect_log"], connect_ports, timeout)
        spark_daemons.take_bound(state, connect_ports(), notes)
        local.write_state(settings, NAME, state)
        if not local.wait_until(lambda: status(settings).running, timeout):
            raise ServiceError("the Spark cluster started but " + "; ".join(
                status(settings).notes) + f"; see the logs in {p['master_log'].parent}")
    except BaseException:
        _stop_all(state)  # nothing half-started is left behind
        local.write_state(settings, NAME, {k: state[k] for k in ports})
        raise
    found = status(settings)
    found.notes = [*notes, "started"]
    log.info("Spark cluster up: %s, %s", found.master_url, found.connect_url)
    return found


def _free_from(taken: dict[str, int], port: int) -> int:
    """Connect's port must differ from the two just chosen (they are not bound yet)."""
    return port if port not in taken.values() else local.free_port()


def _confs(settings: Settings, port: int) -> list[str]:
    """The Connect server's session: loopback gRPC, Delta, UTC, small executors."""
    warehouse = paths(settings)["warehouse"]
    conf = {
        "spark.connect.grpc.binding.address": LOOPBACK,
        "spark.connect.grpc.binding.port": str(port),
        # the next port when this one was taken since it was chosen (default: fail)
        "spark.connect.grpc.port.maxRetries": "16",
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.executor.memory": settings.cluster.executor_memory,
        "spark.executor.cores": "1",
        "spark.cores.max": str(settings.cluster.workers),  # one executor per worker
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": _DELTA_CATALOG,
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse}",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.databricks.delta.snapshotPartitions": "2",
    }
    return [arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")]


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_LOCAL_IP=LOOPBACK,  # every daemon, driver and executor binds to loopback only
        SPARK_DAEMON_MEMORY=settings.cluster.daemon_memory,
        SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
        SPARK_WORKER_OPTS="-Dspark.worker.cleanup.enabled=true",
        PYSPARK_PYTHON=sys.executable,
    )
    return env


def _version() -> str:
    import pyspark

    return pyspark.__version__
