"""A run killed in the middle of the facts step, and PostgreSQL stopped in the middle of
a write (issue 13, item 4b): the warehouse is left as it was and a rerun loads it.

The kill is real: `esteira warehouse run --step facts` in a child process, SIGKILLed
while its transaction is inside the fact table's INSERT (held there by a trigger that
sleeps). The server stop is real too, on a private PostgreSQL started for the test on
its own data folder and port: the shared server is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from esteira import endpoints
from esteira.connectors import postgres as pg
from esteira.datagen.warehouse import generate
from esteira.errors import EsteiraError
from esteira.settings import load_settings

from .conftest import REPO, Warehouse, ts
from .test_facts import seed_source

SLOW_INSERT = """
CREATE FUNCTION {t}.hold() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep({seconds}); RETURN NULL; END $$;
CREATE TRIGGER hold BEFORE INSERT ON {t}.fato_movimentacao_cartao
FOR EACH STATEMENT EXECUTE FUNCTION {t}.hold();
"""
RELEASE = "DROP TRIGGER hold ON {t}.fato_movimentacao_cartao; DROP FUNCTION {t}.hold();"


def _sql(dsn: str, statement: str) -> list[tuple]:
    with pg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def _wait_for_held_insert(dsn: str, timeout: float = 300) -> None:
    """Until a session of ours sleeps inside the fact table's INSERT."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = _sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                         "AND query LIKE '%fato_movimentacao_cartao%'")
        if held[0][0]:
            return
        time.sleep(0.3)
    raise AssertionError("the facts step never reached its INSERT")


def _wait_for_orphan_cancelled(dsn: str, dw: str, within: float) -> None:
    """Until no session runs a statement on `dw`'s fact table any more (the killed
    run's was cancelled and rolled back), or fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        left = _sql(dsn, "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                         f"AND state <> 'idle' AND query LIKE '%{dw}%fato_movimentacao_cartao%'")
        if not left[0][0]:
            return
        time.sleep(0.2)
    raise AssertionError(f"the killed run's query still ran {within} s after the kill")


def _state(wh_dsn: str, dw: str) -> tuple:
    facts = _sql(wh_dsn, f"SELECT count(*) FROM {dw}.fato_movimentacao_cartao")[0][0]
    mark = _sql(wh_dsn, f"SELECT count(*) FROM {dw}.etl_controle "
                        "WHERE tabela = 'fato_movimentacao_cartao'")[0][0]
    sides = _sql(wh_dsn, "SELECT count(*) FROM information_schema.tables WHERE "
                         f"table_schema = '{dw}' AND table_name LIKE '\\_esteira%'")[0][0]
    return facts, mark, sides


def test_a_run_killed_in_the_facts_step_leaves_the_facts_as_they_were(
    wh: Warehouse, engine: str
) -> None:
    seed_source(wh)
    wh.run("raw", "trusted", "dims", now=ts("2024-03-01T12:00+00:00"))
    # the INSERT would hold its locks for a minute: the server must notice the client
    # is gone (client_connection_check_interval, warehouse.orphan_check_ms) long before
    _sql(wh.dsn, SLOW_INSERT.replace("{t}", wh.dw).replace("{seconds}", "60"))
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CONNECT_MODE_ENABLED"}
    child = subprocess.Popen(
        [sys.executable, "-m", "esteira.cli", "--engine", engine, "warehouse", "run",
         "--step", "facts"], env={**env, "ESTEIRA_HOME": str(REPO / ".esteira")},
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_held_insert(wh.dsn)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    _wait_for_orphan_cancelled(wh.dsn, wh.dw, within=15)
    facts, mark, _ = _state(wh.dsn, wh.dw)
    assert (facts, mark) == (0, 0)
    _sql(wh.dsn, RELEASE.replace("{t}", wh.dw))
    rerun = wh.run("facts", now=ts("2024-03-01T13:00+00:00"))
    assert rerun.steps[0].wrote == {"fato_movimentacao_cartao": 3}
    assert _state(wh.dsn, wh.dw)[:2] == (3, 1)


@pytest.fixture
def private_pg(engine: str):
    """A PostgreSQL of this test's own: its data folder under /tmp (the server account
    must reach it), a free port; stopped and removed afterwards."""
    from esteira.services import postgres as pg_service
    from esteira.services.local import free_port

    home = Path(tempfile.mkdtemp(prefix="esteira-pg-", dir="/tmp"))
    home.chmod(0o755)
    settings = load_settings(engine=engine, home=home, postgres={"port": free_port()})
    pg_service.up(settings)
    try:
        yield settings
    finally:
        pg_service.down(settings)
        shutil.rmtree(home, ignore_errors=True)


def test_postgres_stopped_mid_write_leaves_the_table_and_a_rerun_succeeds(
    private_pg, spark, tmp_path: Path
) -> None:
    from esteira.services import pg_cluster
    from esteira.services import postgres as pg_service
    from esteira.warehouse import job

    settings = load_settings(
        engine=private_pg.engine, home=private_pg.home,
        postgres={"port": private_pg.postgres.port},
        warehouse={"source_database": "esteira", "source_schema": "src", "database": "esteira",
                   "dw_schema": "dw", "flat_file": str(tmp_path / "flat.csv")})
    dsn = endpoints.postgres_dsn(settings)
    generate(dsn, "src", associados=30, movimentos=300)
    request = job.WarehouseRequest.parse(settings.warehouse)
    job.run(settings, spark, job.WarehouseRequest(("raw", "trusted", "dims"),
                                                   request.load_date, request.load_ts))
    _sql(dsn, SLOW_INSERT.replace("{t}", "dw").replace("{seconds}", "30"))

    def stop_mid_write() -> None:
        _wait_for_held_insert(dsn)
        data = pg_service.paths(settings)["data"]
        owner = pg_cluster.server_account(settings.postgres.os_user)
        pg_cluster.as_server_user(owner, [str(pg_service.binaries() / "pg_ctl"), "stop", "-D",
                                          str(data), "-m", "immediate"])

    stopper = threading.Thread(target=stop_mid_write)
    stopper.start()
    with pytest.raises(EsteiraError) as failure:
        job.run(settings, spark, job.WarehouseRequest(("facts",), request.load_date,
                                                       request.load_ts))
    stopper.join()
    message = str(failure.value)
    assert "\n" not in message
    # the stop lands inside the transaction's INSERT, or (engine spark, whose JDBC bulk
    # load runs first, in sessions of its own) as the transaction connects: either way
    # one line that names the step and the server
    assert message.startswith("step facts failed: "), message
    assert (message.endswith("every table was left as it was")
            or "cannot connect to PostgreSQL 127.0.0.1:" in message), message

    pg_service.up(settings)  # the server is back
    trusted = _sql(dsn, "SELECT count(*) FROM dw.trusted_movimento")[0][0]
    assert _state(dsn, "dw")[:2] == (0, 0)
    _sql(dsn, RELEASE.replace("{t}", "dw"))
    job.run(settings, spark, job.WarehouseRequest(("facts",), request.load_date,
                                                   request.load_ts))
    assert _state(dsn, "dw") == (trusted, 1, 0)
