"""deploy/databricks/databricks.yml, checked offline: the bundle's documented top-level
shape, every job against the bundle's job schema (databricks-bundles' models, generated
from it, reject unknown and missing fields), and every task against the real CLI."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from databricks.bundles.jobs import Job

from conftest import REPO
from deploy.cli_check import parse
from esteira.orchestrate.config import RunSettings

BUNDLE = REPO / "deploy" / "databricks" / "databricks.yml"
# the top-level mappings of the bundle configuration reference
TOP_LEVEL = {"bundle", "artifacts", "experimental", "include", "permissions", "presets",
             "resources", "run_as", "scripts", "sync", "targets", "variables", "workspace"}
DATE = "{{job.start_time.iso_date}}"  # a Databricks dynamic value: the run's date


@pytest.fixture(scope="module")
def bundle() -> dict:
    return yaml.safe_load(BUNDLE.read_text(encoding="utf-8"))


def _wheel_tasks(bundle: dict) -> dict[str, dict]:
    return {name: task for name, job in bundle["resources"]["jobs"].items()
            for task in job["tasks"] if "python_wheel_task" in task}


def test_the_bundle_has_the_documented_shape_and_dev_and_prod_targets(bundle):
    assert set(bundle) <= TOP_LEVEL
    assert bundle["bundle"]["name"] == "esteira"  # bundle.name is required
    targets = bundle["targets"]
    assert targets["dev"]["mode"] == "development" and targets["dev"]["default"] is True
    assert targets["prod"]["mode"] == "production"
    assert targets["prod"]["workspace"]["root_path"].startswith("/Workspace/Shared/")
    used = set(re.findall(r"\$\{var\.(\w+)\}", BUNDLE.read_text(encoding="utf-8")))
    assert used <= set(bundle["variables"]), used - set(bundle["variables"])
    for target in targets.values():
        assert set(target.get("variables", {})) <= set(bundle["variables"])


def test_the_wheel_is_this_package_with_the_esteira_entry_point(bundle):
    [artifact] = bundle["artifacts"].values()
    assert artifact["type"] == "whl"
    project = tomllib.loads(((BUNDLE.parent / artifact["path"]) / "pyproject.toml")
                            .read_text(encoding="utf-8"))["project"]
    assert project["name"] == "esteira" and "esteira" in project["scripts"]
    for task in _wheel_tasks(bundle).values():
        wheel = task["python_wheel_task"]
        assert (wheel["package_name"], wheel["entry_point"]) == ("esteira", "esteira")
        assert task["libraries"] == [{"whl": "../../dist/*.whl"}]
        assert (BUNDLE.parent / "../../dist").resolve() == (REPO / "dist")


@pytest.mark.parametrize("job", ["esteira_warehouse", "esteira_quarantine", "esteira_portfolio",
                                 "esteira_invoices", "esteira_chatbot", "esteira_billing",
                                 "esteira_notifications_stream", "esteira_daily"])
def test_each_job_matches_the_bundle_job_schema(bundle, job):
    spec = bundle["resources"]["jobs"][job]
    Job.from_dict(spec)  # raises on a field the schema does not have or lacks one it needs
    with pytest.raises(ValueError, match="Unexpected field"):  # the check does bite
        Job.from_dict({**spec, "task": spec["tasks"]})


def test_one_job_per_system_each_running_its_run_all_step(bundle):
    steps = RunSettings().steps
    jobs = bundle["resources"]["jobs"]
    for name in steps:
        [task] = jobs[f"esteira_{name}"]["tasks"]
        argv = task["python_wheel_task"]["parameters"]
        path, params = parse([a.replace(DATE, "2024-05-28") for a in argv])
        assert path == ["run", "step"] and params["name"] == name
        assert params["day"] == "2024-05-28" and argv[:2] == ["--engine", "spark"]
        assert task["max_retries"] == 2


def test_the_stream_is_a_continuous_job_running_the_stream_command(bundle):
    job = bundle["resources"]["jobs"]["esteira_notifications_stream"]
    assert "continuous" in job and "schedule" not in job
    [task] = job["tasks"]
    path, params = parse(task["python_wheel_task"]["parameters"])
    assert path == ["notifications", "stream"] and params["until_idle"] is None


def test_the_daily_job_runs_the_systems_in_run_all_order_past_failures(bundle):
    batch = [n for n in RunSettings().steps if n != "billing"]
    tasks = bundle["resources"]["jobs"]["esteira_daily"]["tasks"]
    assert [t["task_key"] for t in tasks] == batch
    for before, task in zip(tasks, tasks[1:], strict=False):
        assert task["depends_on"] == [{"task_key": before["task_key"]}]
        assert task["run_if"] == "ALL_DONE"
    for task in tasks:
        job_id = f"${{resources.jobs.esteira_{task['task_key']}.id}}"
        assert task["run_job_task"]["job_id"] == job_id


def test_a_wrong_argument_is_caught_by_the_cli_check():
    with pytest.raises(AssertionError, match="no such command"):
        parse(["--engine", "spark", "run", "stpe", "quarantine"])
    with pytest.raises(Exception, match="--dat"):
        parse(["run", "step", "quarantine", "--dat", "2024-05-28"])


def test_the_bundle_file_is_where_the_docs_say(bundle):
    assert Path(BUNDLE).name == "databricks.yml"  # exactly one, at the bundle root
    assert list(BUNDLE.parent.glob("*.yml")) == [BUNDLE]
