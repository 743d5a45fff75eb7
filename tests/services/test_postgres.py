"""The local PostgreSQL through `esteira services ...`, in a private home (not the suite's)."""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

import pytest

from esteira import cli
from esteira.connectors import postgres as pg
from esteira.endpoints import postgres_dsn
from esteira.errors import ServiceError
from esteira.services import postgres
from esteira.services.local import free_port, port_answers
from esteira.settings import load_settings


def esteira(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    return code, capsys.readouterr().out


def test_up_down_status_keep_data_and_handle_a_taken_port(
    service_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ESTEIRA_HOME", str(service_home))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        monkeypatch.setenv("ESTEIRA_POSTGRES__PORT", str(taken))
        monkeypatch.delenv("ESTEIRA_POSTGRES__PASSWORD", raising=False)  # a generated one
        try:
            _lifecycle(capsys, monkeypatch, taken)
        finally:
            postgres.down(load_settings())


def _lifecycle(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, taken: int
) -> None:
    assert esteira(capsys, "services", "status", "postgres") == (
        0,
        f"postgres: not running (data: {load_settings().home.resolve() / 'postgres'})\n",
    )

    code, out = esteira(capsys, "services", "up", "postgres")
    first = postgres.status(load_settings())
    assert code == 0, out
    assert first.running and first.port != taken
    assert f"port {taken} is taken; PostgreSQL uses free port {first.port} instead" in out
    assert f"pid {first.pid}, port {first.port}, version 1" in out
    if os.geteuid() == 0:  # never a server running as root
        owner = pwd.getpwuid(Path(f"/proc/{first.pid}").stat().st_uid).pw_name
        assert owner == load_settings().postgres.os_user

    dsn = postgres_dsn(load_settings())
    with pg.connect(dsn) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        # postgres.server_settings (defaults sized for the warehouse's bulk loads)
        assert conn.execute("SHOW shared_buffers").fetchone() == ("512MB",)
        assert conn.execute("SHOW max_wal_size").fetchone() == ("4GB",)
        assert conn.execute("SHOW wal_level").fetchone() == ("minimal",)
        conn.execute("CREATE TABLE kept (id int, nome text)")
        conn.execute("INSERT INTO kept VALUES (1, 'Conceição')")

    monkeypatch.setenv("ESTEIRA_POSTGRES__PASSWORD", "segredo-novo")
    code, out = esteira(capsys, "services", "up", "postgres")
    assert code == 0 and "(already running)" in out
    assert postgres.status(load_settings()).pid == first.pid
    with pg.connect(postgres_dsn(load_settings())) as conn:  # the role took the new password
        assert conn.execute("SELECT current_user").fetchone() == ("esteira",)
    with pytest.raises(ServiceError):
        pg.connect(dsn)  # the generated one no longer logs in

    code, out = esteira(capsys, "services", "down", "postgres")
    assert code == 0 and "postgres: not running" in out
    assert not port_answers(first.port)

    code, out = esteira(capsys, "services", "up", "postgres")
    again = postgres.status(load_settings())
    assert code == 0 and again.running and again.pid != first.pid
    assert again.port == first.port  # the configured port is still taken: the remembered one
    with pg.connect(postgres_dsn(load_settings())) as conn:
        assert conn.execute("SELECT id, nome FROM kept").fetchall() == [(1, "Conceição")]


def test_an_external_server_is_only_checked(
    tmp_path: Path, pg_conninfo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from psycopg.conninfo import conninfo_to_dict

    suite = conninfo_to_dict(pg_conninfo)
    monkeypatch.setenv("ESTEIRA_POSTGRES__PASSWORD", str(suite["password"]))
    settings = load_settings(
        home=tmp_path,
        postgres={
            "host": suite["host"],
            "port": int(suite["port"]),
            "user": suite["user"],
            "database": suite["dbname"],
        },
    )

    found = postgres.up(settings)

    assert found.external and found.running and found.version
    assert not (tmp_path / "postgres").exists()  # nothing initialised, nothing started


def test_an_external_server_that_does_not_answer_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESTEIRA_POSTGRES__PASSWORD", "x")
    port = free_port()
    settings = load_settings(home=tmp_path, postgres={"host": "127.0.0.1", "port": port})

    with pytest.raises(
        ServiceError, match=f"PostgreSQL server 127.0.0.1:{port} .* does not answer"
    ):
        postgres.up(settings)
