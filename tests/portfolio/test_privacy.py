"""`esteira portfolio assign`: no personal data in any output channel on the success path,
and the run log's counts are the tables' (issue 13, items 1 and 7), both engines.

The failure paths (no header, wrong delimiter, wrong types, ...) are in test_bad_input.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from privacy import Gatherer

from .test_bad_input import write_inputs


def test_success_path_leaks_nothing_and_the_run_log_counts_match(
    engine: str, spark, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clients, managers = write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    for result in Gatherer(engine, capfd).both_formats(
        "portfolio", "assign", "--clients", clients, "--managers", managers, "--out", out
    ):
        assert result.code == 0, result.stderr[-2000:]
        result.assert_clean()

    record = result.runlog[-1]
    assert record["status"] == "succeeded"

    def count(table: str, where: str = "true") -> int:
        return spark.read.format("delta").load(str(out / table)).filter(where).count()

    data_lines = len(clients.read_text().splitlines()) - 1
    assert record["inputs"] == {"clients": data_lines, "managers": 2}
    assert record["outputs"] == {
        "assigned": count("assignment"),
        "unassigned": count("unassigned"),
        # id conflicts only: rows without chave_unica are dropped, not rejected
        "rejected": count("rejects", "tipo = 'cliente' AND motivo <> 'chave_unica nula'"),
    }
    # by hand: 10 ids (1..9, the CPF); 9 has no key, 1 is under two keys
    assert record["outputs"]["assigned"] + record["outputs"]["unassigned"] == 8
    assert record["outputs"]["rejected"] == 1
