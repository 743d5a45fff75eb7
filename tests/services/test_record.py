"""`services up --record FILE` / `services down --only-started FILE`: what `make test`
uses to stop, at its end, only the services it started itself (issue 13, item 7).

Runs a private PostgreSQL in its own home (never the suite's shared servers).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from esteira import cli
from esteira.services import postgres
from esteira.settings import load_settings


def esteira(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    return code, capsys.readouterr().out


def test_only_the_services_a_recorded_up_started_are_stopped(
    service_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ESTEIRA_HOME", str(service_home))
    monkeypatch.delenv("ESTEIRA_POSTGRES__PASSWORD", raising=False)
    monkeypatch.delenv("ESTEIRA_POSTGRES__PORT", raising=False)
    started_here, already_up = tmp_path / "started.json", tmp_path / "second.json"
    try:
        assert not postgres.status(load_settings()).running
        code, out = esteira(capsys, "services", "up", "postgres", "--record", started_here)
        assert code == 0, out
        pid = postgres.status(load_settings()).pid
        assert json.loads(started_here.read_text()) == ["postgres"]

        # a second `up` finds it running: it records nothing, so its `down` stops nothing
        code, out = esteira(capsys, "services", "up", "postgres", "--record", already_up)
        assert code == 0 and json.loads(already_up.read_text()) == []
        code, out = esteira(capsys, "services", "down", "--only-started", already_up)
        assert code == 0 and "postgres: left as it was" in out and "kafka: left as it was" in out
        assert postgres.status(load_settings()).pid == pid
        assert not already_up.exists()

        # the `up` that started it: its `down` stops it (and leaves kafka alone)
        code, out = esteira(capsys, "services", "down", "--only-started", started_here)
        assert code == 0 and "kafka: left as it was" in out
        assert not postgres.status(load_settings()).running
        assert not started_here.exists()

        # no record at all (the file is gone): nothing is stopped
        code, out = esteira(capsys, "services", "down", "--only-started", started_here)
        assert code == 0 and "postgres: left as it was" in out
    finally:
        postgres.down(load_settings())
