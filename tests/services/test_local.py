"""Port choice and `status` when nothing runs (no service is started here)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from esteira import cli
from esteira.services.local import choose_port, free_port, port_free


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_free_configured_port_is_used_as_is() -> None:
    wanted = free_port()
    notes: list[str] = []

    assert choose_port("Kafka", wanted, None, notes) == wanted
    assert notes == []


def test_a_taken_port_falls_back_to_a_free_one_and_says_so(busy_port: int) -> None:
    notes: list[str] = []

    port = choose_port("Kafka", busy_port, None, notes)

    assert port != busy_port
    assert port_free(port)
    assert notes == [f"port {busy_port} is taken; Kafka uses free port {port} instead"]


def test_a_taken_port_prefers_the_port_used_last_time(busy_port: int) -> None:
    remembered = free_port()

    assert choose_port("PostgreSQL", busy_port, remembered, []) == remembered


def test_status_when_nothing_runs_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ESTEIRA_HOME", str(tmp_path))

    code = cli.main(["services", "status"])

    out = capsys.readouterr().out
    assert code == 0
    assert "kafka: not running" in out
    assert "postgres: not running" in out
