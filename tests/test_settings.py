"""Config: YAML + environment, errors named before any work, secrets only from env."""

from __future__ import annotations

from pathlib import Path

import pytest

from esteira.errors import ConfigError
from esteira.settings import load_settings


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def write(text: str) -> Path:
        path = tmp_path / "esteira.yaml"
        path.write_text(text)
        monkeypatch.setenv("ESTEIRA_CONFIG", str(path))
        return path

    return write


def test_defaults_from_the_repo_config():
    s = load_settings()
    assert s.engine in ("sail", "spark")
    assert s.portfolio.limit_clients == 1473


def test_yaml_then_environment_then_overrides(config_file, monkeypatch):
    config_file("engine: spark\nportfolio:\n  limit_clients: 10\nspark:\n  master: local[2]\n")
    assert load_settings().portfolio.limit_clients == 10
    assert load_settings().spark.master == "local[2]"
    monkeypatch.setenv("ESTEIRA_PORTFOLIO__LIMIT_CLIENTS", "20")
    monkeypatch.setenv("ESTEIRA_ENGINE", "sail")
    s = load_settings()
    assert (s.engine, s.portfolio.limit_clients, s.spark.master) == ("sail", 20, "local[2]")
    assert load_settings(engine="spark").engine == "spark"


def test_bad_value_names_the_key(config_file):
    config_file("portfolio:\n  limit_clients: -3\n")
    with pytest.raises(ConfigError, match=r"portfolio\.limit_clients"):
        load_settings()


def test_unknown_key_is_refused(config_file):
    config_file("portfolio:\n  limite: 3\n")
    with pytest.raises(ConfigError, match=r"portfolio\.limite"):
        load_settings()


def test_secret_in_file_is_refused_and_env_is_masked(config_file, monkeypatch):
    config_file("postgres:\n  password: hunter2\n")
    with pytest.raises(ConfigError, match="ESTEIRA_POSTGRES__PASSWORD") as err:
        load_settings()
    assert "hunter2" not in str(err.value)
    config_file("engine: sail\n")
    monkeypatch.setenv("ESTEIRA_POSTGRES__PASSWORD", "s3cret-value")
    s = load_settings()
    assert s.postgres.password.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(s) and "s3cret-value" not in str(s.model_dump())


def test_missing_config_file_named(monkeypatch, tmp_path):
    monkeypatch.setenv("ESTEIRA_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_settings()
