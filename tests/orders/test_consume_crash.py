"""SIGKILL the consumer twice, restart it: PostgreSQL ends exactly as one clean run would.

Real broker, real PostgreSQL, JVM Spark in a child process (its own process group, so
the kill takes the JVM along, as a crash would). The kills land:
1. in the middle of a micro-batch (Spark logged its offsets, nothing committed);
2. right after a batch's PostgreSQL transaction committed, before Spark recorded the
   batch: the restart replays it and must find its marker.
Generated orders with status changes (some out of order), a few invalid events, and
canary personal data in customer and city fields, which must not reach the logs or the
run log.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from canaries import CPF, NAME, assert_no_canary, read_all
from esteira import endpoints
from esteira.connectors import kafka
from esteira.datagen.orders import write_orders
from esteira.orders.produce import ProduceRequest, produce
from esteira.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.spark_only


def _jvm_environ(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith("SPARK_CONNECT") and k not in ("SPARK_REMOTE",)}
    return {**keep, "ESTEIRA_HOME": str(REPO / ".esteira"), **extra}


def _start(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "esteira.cli", "--engine", "spark", "orders", "consume", *extra],
        env=env, cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True)


def _wait(condition: Callable[[], bool], proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        assert proc.poll() is None, f"the consumer exited before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _ids(folder: Path) -> set[int]:
    return {int(p.name) for p in folder.iterdir() if p.name.isdigit()} if folder.is_dir() \
        else set()


def _events(path: Path) -> tuple[list[dict], set[int]]:
    """The generated rows with a few made invalid (qtde 0) and canaries put in."""
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    bad = {7, 40, 41, 150}
    for i, row in enumerate(rows):
        if i in bad:
            row["qtde"], row["valor_total"] = "0", "0.00"
        if i % 5 == 0:
            row["cliente_id"] = CPF
        if i == 3:
            row["cidade"] = NAME
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows, bad


def test_sigkill_mid_batch_and_after_commit_loses_and_duplicates_nothing(
        engine, kafka_bootstrap, kafka_topic, pg_schema, tmp_path):
    if engine != "spark":
        pytest.skip("the Kafka source needs JVM Spark")
    topic, dlq = kafka_topic(partitions=3), kafka_topic(partitions=1)
    root = tmp_path / "orders"
    knobs = {"topic": topic, "dlq_topic": dlq, "pg_schema": pg_schema, "root": str(root),
             "max_offsets_per_trigger": "40", "trigger_seconds": "0"}
    env = _jvm_environ({f"ESTEIRA_ORDERS__{k.upper()}": v for k, v in knobs.items()})
    settings = load_settings(home=REPO / ".esteira", orders=knobs)
    export = tmp_path / "pedidos.csv"
    write_orders(export, rows=150, seed=7, updates=True)
    rows, bad = _events(export)
    produce(kafka_bootstrap, settings.orders,
            ProduceRequest(export, topic), show_progress=False)
    dsn = endpoints.postgres_dsn(settings)
    log = tmp_path / "consumer.log"
    offsets, commits = root / "checkpoint" / "offsets", root / "checkpoint" / "commits"

    def markers() -> int:
        with psycopg.connect(dsn) as conn:
            found = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                                 (f"{pg_schema}.pedidos_lotes",)).fetchone()[0]
            if not found:
                return 0
            return conn.execute(f"SELECT count(*) FROM {pg_schema}.pedidos_lotes").fetchone()[0]

    proc = _start(env, log)
    _wait(lambda: bool(_ids(offsets) - _ids(commits)), proc, "a micro-batch to start")
    _kill(proc)  # 1: mid-batch

    proc = _start(env, log)
    done = len(_ids(commits))
    _wait(lambda: markers() > max(done, len(_ids(commits))), proc, "a PostgreSQL commit")
    _kill(proc)  # 2: PostgreSQL has the batch, Spark's commit log may not

    # the rest in one batch: the replayed batch still reads the offsets Spark logged
    # for it (the marker test), the new ones are not cut 40 at a time (~7 JVM batches)
    final = _start({**env, "ESTEIRA_ORDERS__MAX_OFFSETS_PER_TRIGGER": "100000"}, log,
                   "--until-idle", "4s")
    assert final.wait(timeout=900) == 0, log.read_text(errors="replace")[-3000:]

    # expected, from the file: the newest valid event per order (event time, file order)
    newest: dict[str, tuple[tuple[str, int], dict]] = {}
    for i, row in enumerate(rows):
        if i in bad:
            continue
        rank = (row["atualizado_em"], i)
        if row["pedido_id"] not in newest or rank > newest[row["pedido_id"]][0]:
            newest[row["pedido_id"]] = (rank, row)
    with psycopg.connect(dsn) as conn:
        got = dict(conn.execute(f"SELECT pedido_id, status_pedido FROM {pg_schema}.pedidos"))
        rejects = conn.execute(f'SELECT particao, "offset", regra FROM {pg_schema}.'
                               "pedidos_rejeitados").fetchall()
    assert got == {pid: row["status_pedido"] for pid, (_, row) in newest.items()}
    assert len(rejects) == len(bad) and {r[2] for r in rejects} == {"qtde_positiva"}
    letters = kafka.consume(kafka_bootstrap, dlq, 20, timeout=8)
    where = {(int(dict(m.headers)["__connect.errors.partition"]),
              int(dict(m.headers)["__connect.errors.offset"])) for m in letters}
    assert where == {(r[0], r[1]) for r in rejects}

    assert_no_canary(log.read_text(errors="replace"), "the consumer's output (incl. JVM)")
    assert_no_canary(read_all(settings.runs_file), "the run log")
