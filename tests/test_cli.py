"""The CLI surface: help everywhere, one-line errors, the run log listing, JSON logs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from esteira import cli
from esteira.runlog import Run, append_run


@pytest.mark.parametrize(
    "group",
    ["portfolio", "quarantine", "notifications", "invoices", "chatbot", "services", "datagen"],
)
def test_every_group_has_help(group, capsys):
    assert cli.main([group, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_bad_engine_is_one_line_and_exit_2(capsys):
    assert cli.main(["--engine", "nope", "runs"]) == 2
    err = capsys.readouterr().err
    assert "engine" in err and "Traceback" not in err


def test_runs_lists_the_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ESTEIRA_HOME", str(tmp_path))
    append_run(
        tmp_path / "runs.jsonl", Run(pipeline="portfolio.assign", engine="sail", status="succeeded")
    )
    assert cli.main(["runs", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["pipeline"] == "portfolio.assign"


def test_json_log_format_emits_one_object_per_line(tmp_path):
    env_cmd = [
        sys.executable,
        "-m",
        "esteira.cli",
        "--log-format",
        "json",
        "datagen",
        "portfolio",
        "--out",
        str(tmp_path / "g"),
        "--clients",
        "50",
        "--managers",
        "3",
        "--keys",
        "2",
    ]
    proc = subprocess.run(env_cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("{")]
    assert lines and all(json.loads(line)["level"] for line in lines)


def test_config_prints_the_settings_in_effect_with_secrets_masked(monkeypatch, capsys):
    import yaml

    monkeypatch.setenv("ESTEIRA_POSTGRES__PASSWORD", "segredo-de-teste")
    monkeypatch.setenv("ESTEIRA_PORTFOLIO__LIMIT_CLIENTS", "7")
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert "segredo-de-teste" not in out
    values = yaml.safe_load(out)
    assert values["portfolio"]["limit_clients"] == 7
    assert values["postgres"]["password"] == "**********"
    assert cli.main(["config", "nada"]) == 2
    assert "no settings section 'nada'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, named", [
    (["invoices", "averages", "--input", "x", "--out", "s3a://bucket/medias"], "--out"),
    (["chatbot", "answers", "--input=gs://bucket/lake", "--out", "y"], "--input"),
])
def test_an_object_store_url_as_an_output_path_is_refused_by_option(
        argv, named, tmp_path, monkeypatch, capsys):
    """Path would turn s3a://bucket/x into a local folder `s3a:`: refused before any work."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{named}: object-store URLs are not supported" in err and "bucket" not in err
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_an_object_store_url_in_a_path_setting_is_refused_by_key(monkeypatch, capsys):
    monkeypatch.setenv("ESTEIRA_QUARANTINE__TABLE", "s3a://lake/quarentena")
    assert cli.main(["config", "quarantine"]) == 2
    assert "quarantine.table: object-store URLs are not supported" in capsys.readouterr().err
