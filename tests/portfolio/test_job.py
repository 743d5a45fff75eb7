"""The job's shape: a typed request in, a typed result out, nothing written on a broken check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from esteira.errors import ConfigError, QualityError
from esteira.portfolio import job
from esteira.portfolio.config import PortfolioSettings
from esteira.portfolio.job import AssignRequest, AssignResult, KeyLoad
from esteira.runlog import read_runs
from esteira.settings import load_settings


def test_request_takes_seed_and_limit_from_settings_unless_given():
    defaults = PortfolioSettings(limit_clients=7, seed=5)
    request = AssignRequest.parse(defaults, "c", "m", Path("o"))
    assert (request.seed, request.limit, request.previous) == (5, 7, None)
    request = AssignRequest.parse(defaults, "c", "m", Path("o"), "p", seed=1, limit=2)
    assert (request.seed, request.limit, request.previous) == (1, 2, "p")


@pytest.mark.parametrize("limit", [0, -3])
def test_request_refuses_a_limit_below_one(limit):
    with pytest.raises(ConfigError, match="--limit"):
        AssignRequest.parse(PortfolioSettings(), "c", "m", Path("o"), limit=limit)


@pytest.fixture
def request_(tmp_path: Path) -> AssignRequest:
    (tmp_path / "in").mkdir()
    clients = tmp_path / "in" / "clients.csv"
    clients.write_text("nr_cli,chave_unica\n" + "".join(f"{i},A\n" for i in range(1, 7)))
    managers = tmp_path / "in" / "managers.csv"
    managers.write_text("id_gerente,chave_unica\nG1,A\nG2,A\n")
    return AssignRequest(str(clients), str(managers), tmp_path / "out", seed=1, limit=10)


def test_run_returns_a_typed_result_that_is_the_summary_file(spark, engine, tmp_path, request_):
    settings = load_settings(engine=engine, home=tmp_path / "home")
    result = job.run(settings, spark, request_)
    assert isinstance(result, AssignResult)
    assert (result.assigned, result.unassigned, result.load_spread) == (6, 0, 0)
    assert result.per_key == [KeyLoad("A", 2, 6, 3, 3)]
    summary = json.loads((request_.out / "summary.json").read_text())
    assert summary == result.summary()
    assert "run_id" not in summary and "out" not in summary
    (record,) = read_runs(settings.runs_file)
    assert record["run_id"] == result.run_id
    assert record["outputs"] == {"assigned": 6, "unassigned": 0, "rejected": 0}
    assert record["rules"]["assignment.duplicated"] == {"action": "fail", "failed": 0}


def test_a_broken_check_raises_writes_nothing_and_is_in_the_run_log(
    spark, engine, tmp_path, request_, monkeypatch
):
    real = job.compute

    def twice_assigned(*args):  # a bug in the distribution: one client placed twice
        frames = real(*args)
        frames["assignment"] = frames["assignment"].unionByName(frames["assignment"].limit(1))
        return frames

    monkeypatch.setattr(job, "compute", twice_assigned)
    settings = load_settings(engine=engine, home=tmp_path / "home")
    with pytest.raises(QualityError, match=r"duplicated \(1 rows\).*nothing written"):
        job.run(settings, spark, request_)
    assert not request_.out.exists() or list(request_.out.iterdir()) == []
    (record,) = read_runs(settings.runs_file)
    assert record["status"] == "failed"
    assert record["rules"]["assignment.duplicated"] == {"action": "fail", "failed": 1}
    assert record["rules"]["assignment.missing"] == {"action": "fail", "failed": 0}
