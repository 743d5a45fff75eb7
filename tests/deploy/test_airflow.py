"""The Airflow DAG (deploy/airflow) in Airflow's own virtualenv (make airflow): DagBag
imports it, its tasks match `esteira run all` and the CLI, and `airflow dags test` runs it
once on small demo data with an SQLite metadata database, each task calling `esteira`."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from demo_data import LOAD, demo_layout  # noqa: F401 - the fixture
from deploy.cli_check import parse
from esteira.orchestrate.config import RunSettings

AIRFLOW_VENV = REPO / ".esteira" / "airflow-venv"
DAGS = REPO / "deploy" / "airflow"
ESTEIRA = REPO / ".venv" / "bin" / "esteira"
BATCH = [name for name in RunSettings().steps if name != "billing"]

if not (AIRFLOW_VENV / "bin" / "airflow").is_file():
    if os.environ.get("CI"):
        pytest.fail(f"{AIRFLOW_VENV} is missing: `make setup` (make airflow) builds it")
    pytest.skip("Airflow's virtualenv is missing: run `make airflow`", allow_module_level=True)

INSPECT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("esteira_daily")
tasks = {} if dag is None else {
    t.task_id: {"upstream": sorted(t.upstream_task_ids), "rule": str(t.trigger_rule.value),
                "retries": t.retries, "backoff": bool(t.retry_exponential_backoff),
                "bash": getattr(t, "bash_command", None), "type": type(t).__name__}
    for t in dag.tasks}
print("RESULT " + json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                              "dags": sorted(bag.dags), "tasks": tasks}))
"""


def _airflow_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESTEIRA_", "AIRFLOW"))}
    return {**env, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "ESTEIRA_COMMAND": str(ESTEIRA), **extra}


@pytest.fixture(scope="module")
def dag(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow")
    done = subprocess.run([str(AIRFLOW_VENV / "bin" / "python"), "-c", INSPECT, str(DAGS)],
                          env=_airflow_env(home), capture_output=True, text=True, timeout=300,
                          check=False)
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(line[0].removeprefix("RESULT "))


def _command(bash: str) -> list[str]:
    """`cd DIR && ESTEIRA args...` -> args (with Airflow's templates replaced by a date)."""
    _, _, call = bash.partition(" && ")
    words = re.sub(r"\{\{.*?\}\}", "2024-05-28", call).split()
    assert words[0] == "esteira" or Path(words[0]).name == "esteira", bash
    return words[1:]


def test_the_dagbag_imports_the_dag_without_errors(dag):
    assert dag["errors"] == {}
    assert dag["dags"] == ["esteira_daily"]


def test_one_task_per_system_in_the_order_of_run_all(dag):
    tasks = dag["tasks"]
    for before, after in zip(BATCH, BATCH[1:], strict=False):
        assert tasks[after]["upstream"] == [before]
        assert tasks[after]["rule"] == "all_done"  # a failed system does not stop the next
    for name in BATCH:
        assert tasks[name]["retries"] == 2 and tasks[name]["backoff"] is True
    assert tasks["billing"]["upstream"] == ["batch_done", "billing_grace_over", "stream_health"]
    assert tasks["billing"]["rule"] == "all_success"
    assert tasks["billing_grace_over"]["type"] == "DateTimeSensor"
    assert tasks["stream_health"]["type"] == "BashSensor"
    assert tasks["watcher"]["rule"] == "one_failed"
    assert set(tasks["watcher"]["upstream"]) == set(tasks) - {"watcher", "batch_done"}


def test_every_task_runs_a_real_esteira_command(dag):
    commands = {name: _command(t["bash"]) for name, t in dag["tasks"].items() if t["bash"]}
    assert set(commands) == {*BATCH, "billing", "stream_health"}
    steps = RunSettings().steps
    for name, argv in commands.items():
        path, params = parse(argv)
        if name == "stream_health":
            assert path == ["run", "stream-health"]
            continue
        assert path == ["run", "step"] and params["name"] == name and name in steps
        assert params["day"] == "2024-05-28"


def test_airflow_dags_test_runs_the_day_on_the_demo_data(demo, tmp_path):
    home = tmp_path / "airflow"
    conf = tmp_path / "esteira.yaml"
    conf.write_text(yaml.safe_dump({
        "home": str(tmp_path / "esteira"),
        # the warehouse reads the local PostgreSQL's source database: its own tests cover it
        "run": {"data_dir": str(demo), "steps": {"warehouse": {"enabled": False}}},
        "quarantine": {"table": str(tmp_path / "lake/qg"), "rejects": str(tmp_path / "lake/qr"),
                       "staging": str(tmp_path / "staging"),
                       "downloads": str(tmp_path / "downloads")},
    }))
    env = _airflow_env(home, ESTEIRA_CONFIG=str(conf), ESTEIRA_WORKDIR=str(tmp_path))
    airflow = str(AIRFLOW_VENV / "bin" / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=600)
    done = subprocess.run([airflow, "dags", "test", "esteira_daily", LOAD], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    with sqlite3.connect(home / "airflow.db") as db:
        states = dict(db.execute("select task_id, state from task_instance").fetchall())
    log = done.stdout[-3000:] + done.stderr[-3000:]
    assert states == {
        "warehouse": "skipped",  # disabled in run.steps: `run step` exits 99
        "quarantine": "success", "portfolio": "success",
        "invoices": "success", "chatbot": "success", "batch_done": "success",
        "billing_grace_over": "success",  # a past day: its grace is long over
        "stream_health": "failed",  # no stream ran here: `run stream-health` exits 2
        "billing": "upstream_failed",  # never bills without a healthy stream
        "watcher": "failed",  # so the run fails, as it should
    }, log
    assert done.returncode != 0
    runs = [json.loads(x) for x in (tmp_path / "esteira/runs.jsonl").read_text().splitlines()]
    assert sorted((r["pipeline"], r["status"]) for r in runs) == [
        ("chatbot.answers", "succeeded"), ("invoices.averages", "succeeded"),
        ("portfolio.assign", "succeeded"), ("quarantine.build", "succeeded")]
    assert (demo / "invoices/averages.csv").is_file()
