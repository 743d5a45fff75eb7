"""`esteira portfolio assign` end to end on real files, on both engines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from esteira.engine import get_session  # noqa: F401 - the session comes from the fixture


def _write_csv(path: Path, header: str, rows: list[str], sep: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "\n".join([header.replace(",", sep), *[r.replace(",", sep) for r in rows]]) + "\n"
    )
    return path


@pytest.fixture
def small_inputs(tmp_path: Path) -> tuple[Path, Path]:
    clients = _write_csv(
        tmp_path / "in" / "clients.csv",
        "nr_cli,chave_unica,segmento",
        [f"{i},{'A' if i % 3 else 'B'},PF" for i in range(1, 31)] + ["31,,PF", "1,A,PF"],
    )
    managers = _write_csv(
        tmp_path / "in" / "managers.csv",
        "id_gerente,chave_unica,capacidade",
        ["G1,A,", "G2,A,", "G3,B,4", "G4,B,"],
    )
    return clients, managers


def _delta_versions(path: Path) -> int:
    """Commits in the Delta log (Sail has no DESCRIBE HISTORY)."""
    return len(list((path / "_delta_log").glob("*.json")))


def test_assign_writes_delta_outputs_summary_and_history(run_cli, spark, small_inputs, tmp_path):
    clients, managers = small_inputs
    out = tmp_path / "out"
    code, _, err = run_cli(
        "portfolio",
        "assign",
        "--clients",
        clients,
        "--managers",
        managers,
        "--out",
        out,
        "--seed",
        "3",
    )
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clients_read"] == 32
    assert summary["clients_dropped_null_key"] == 1
    assert summary["assigned"] + summary["unassigned"] == 30
    assert summary["unassigned"] == 0
    by_key = {k["chave_unica"]: (k["carga_min"], k["carga_max"]) for k in summary["per_key"]}
    assert by_key == {"A": (10, 10), "B": (4, 6)}  # G3 is capped at 4
    assignment = spark.read.format("delta").load(str(out / "assignment"))
    assert assignment.count() == 30
    assert set(assignment.columns) >= {
        "nr_cli",
        "chave_unica",
        "segmento",
        "id_gerente",
        "situacao",
    }
    assert not (out / "_staging").exists()

    code, _, err = run_cli(
        "portfolio",
        "assign",
        "--clients",
        clients,
        "--managers",
        managers,
        "--out",
        out,
        "--previous",
        out / "assignment",
    )
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["kept"], summary["moved"], summary["new"]) == (30, 0, 0)
    # the first version is still readable through Delta history
    v0 = spark.read.format("delta").option("versionAsOf", 0).load(str(out / "assignment"))
    assert v0.count() == 30


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_column", "missing column(s) chave_unica"),
        ("no_such_path", "path does not exist"),
        ("wrong_delimiter", "';'-separated"),
        ("empty_managers", "managers table is empty"),
    ],
)
def test_bad_input_is_one_clear_line_and_leaves_outputs_untouched(
    run_cli, spark, small_inputs, tmp_path, case, expected
):
    clients, managers = small_inputs
    out = tmp_path / "out"
    code, _, err = run_cli(
        "portfolio", "assign", "--clients", clients, "--managers", managers, "--out", out
    )
    assert code == 0, err
    before = _delta_versions(out / "assignment")
    bad = tmp_path / "bad"
    if case == "missing_column":
        bad_file = _write_csv(bad / "m.csv", "id_gerente,chave", ["G1,A"])
    elif case == "no_such_path":
        bad_file = bad / "nothing.csv"
    elif case == "wrong_delimiter":
        bad_file = _write_csv(bad / "m.csv", "id_gerente,chave_unica", ["G1,A"], sep=";")
    else:
        bad_file = _write_csv(bad / "m.csv", "id_gerente,chave_unica", [])
    code, _, err = run_cli(
        "portfolio", "assign", "--clients", clients, "--managers", bad_file, "--out", out
    )
    assert code == 2
    message = " ".join(err.split())
    assert expected in message
    assert str(bad_file) in message.replace("\n", "")
    assert "Traceback" not in err
    assert _delta_versions(out / "assignment") == before


def test_datagen_then_assign_covers_every_client(run_cli, spark, tmp_path):
    data = tmp_path / "gen"
    code, _, err = run_cli(
        "datagen",
        "portfolio",
        "--out",
        data,
        "--clients",
        "3000",
        "--managers",
        "40",
        "--keys",
        "10",
        "--format",
        "parquet",
    )
    assert code == 0, err
    code, _, err = run_cli(
        "portfolio",
        "assign",
        "--clients",
        data / "clients",
        "--managers",
        data / "managers",
        "--out",
        tmp_path / "out",
        "--limit",
        "60",
    )
    assert code == 0, err
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["clients_dropped_null_key"] > 0
    assert s["unassigned_by_reason"]  # keys without managers and full managers exist
    valid = s["clients_read"] - s["clients_dropped_null_key"] - s["rejected"]
    distinct_valid = (
        spark.read.parquet(str(data / "clients"))
        .dropna(subset=["chave_unica"])
        .dropDuplicates()
        .select("nr_cli")
        .distinct()
        .count()
    ) - s["rejected"]
    assert s["assigned"] + s["unassigned"] == distinct_valid
    assert valid >= distinct_valid
    loads = (
        spark.read.format("delta")
        .load(str(tmp_path / "out" / "assignment"))
        .groupBy("id_gerente")
        .count()
        .join(spark.read.parquet(str(data / "managers")), "id_gerente")
        .filter("count > coalesce(capacidade, 60)")
    )
    assert loads.count() == 0
