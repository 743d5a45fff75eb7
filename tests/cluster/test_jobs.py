"""The batch jobs (portfolio, quarantine, invoices, chatbot, warehouse) on a real cluster
give the same tables as on Sail, row for row.

Each job runs through the CLI with `--engine spark --master spark://127.0.0.1:...` (a
JVM driver whose executors run on the two workers) and with `--remote sc://...` (the
cluster's Spark Connect server); the reference is the same jobs on embedded Sail. The
tables are read with deltalake and plain file reads, neither engine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from esteira import cli
from esteira.engine import connector_jars
from esteira.services.cluster import spark_home
from esteira.services.local import port_answers

from .jobs import jobs
from .outputs import differences, snapshot

JOBS = list(jobs(Path(), Path()))


def _master_view(ui_url: str) -> dict:
    with urllib.request.urlopen(f"{ui_url}/json/", timeout=10) as resp:
        return json.load(resp)


def _outward_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # UDP: no packet is sent
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def _check(job: str, reference: Path, outputs: Path) -> None:
    codes = json.loads((outputs / "jobs.json").read_text())
    err = (outputs / f"{job}.err").read_text()[-2000:]
    assert codes[job]["code"] == 0, err
    assert json.loads((reference / "jobs.json").read_text())[job]["code"] == 0
    expected = snapshot(reference / job)
    # the reference itself must hold rows, or two empty outputs would "match"
    assert expected and any(rows for _, rows in expected.values()), f"{job}: nothing written"
    assert differences(expected, snapshot(outputs / job)) == []


def test_the_cluster_listens_on_loopback_only(local_cluster) -> None:
    view = _master_view(local_cluster.ui_url)
    assert view["aliveworkers"] == 2
    assert all(w["host"] == "127.0.0.1" for w in view["workers"])
    connect = [a for a in view["activeapps"] if a["name"] == "esteira-connect"]
    assert len(connect) == 1 and connect[0]["cores"] == 2  # one executor on each worker
    outside = _outward_address()
    if outside:
        for url in (local_cluster.master_url, local_cluster.connect_url):
            port = int(url.rsplit(":", 1)[1])
            assert port_answers(port) and not port_answers(port, outside)


@pytest.mark.parametrize("job", JOBS)
def test_job_through_master_matches_sail(job: str, sail_outputs: Path, master_outputs: Path):
    _check(job, sail_outputs, master_outputs)


@pytest.mark.parametrize("job", JOBS)
def test_job_through_spark_connect_matches_sail(
    job: str, sail_outputs: Path, remote_outputs: Path
):
    _check(job, sail_outputs, remote_outputs)


def test_master_jobs_ran_on_the_workers(local_cluster, master_outputs: Path) -> None:
    """Not a local driver in disguise: the master lists the jobs' application as done."""
    done = [a for a in _master_view(local_cluster.ui_url)["completedapps"]
            if a["name"] == "esteira"]
    assert done and all(a["state"] == "FINISHED" for a in done)


def test_a_spark_submit_line_runs_a_job(
    local_cluster, inputs: Path, sail_outputs: Path, tmp_path: Path
) -> None:
    """The README's spark-submit line, on this cluster: the line brings master and jars
    (esteira's home has none), esteira adds Delta and the rest."""
    jars = connector_jars(local_cluster.data_dir.parent / "jars")
    out = tmp_path / "invoices" / "averages.csv"
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CONNECT_MODE_ENABLED"}
    env.update(ESTEIRA_HOME=str(tmp_path / "home"), PYSPARK_PYTHON=sys.executable)
    done = subprocess.run(
        [str(spark_home() / "bin" / "spark-submit"), "--master", local_cluster.master_url,
         "--deploy-mode", "client", "--driver-memory", "1g",
         "--conf", "spark.executor.memory=512m", "--conf", "spark.cores.max=2",
         "--jars", ",".join(str(j) for j in jars), cli.__file__, "--engine", "spark",
         "invoices", "averages", "--input", str(inputs / "invoices"),
         "--reference", "2020-01", "--windows", "3,6", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=1200, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert differences(snapshot(sail_outputs / "invoices"), snapshot(tmp_path / "invoices")) == []
    assert not (tmp_path / "home" / "jars").exists()
