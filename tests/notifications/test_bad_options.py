"""`esteira notifications produce` on bad options (issue 13, item 5): one line
naming the option, exit status 2, nothing sent and no file written.

The notification commands read no input file: their input is their options. The checks
run before any connection is made, so no broker is needed here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CASES = {
    "rate_not_a_number": (["produce", "--rate", "muitas"], "--rate"),
    "rate_zero": (["produce", "--rate", "0"], "--rate must be > 0"),
    "no_customers": (["produce", "--customers", "0"], "--customers >= 1"),
    "duration_not_a_duration": (["produce", "--duration", "amanhã"], "--duration"),
    "share_above_one": (["produce", "--duplicates", "1.5"], "--duplicates must be a share"),
    "negative_share": (["produce", "--bad", "-0.1"], "--bad must be a share"),
    "start_not_a_date": (["produce", "--start", "31/12/2020"], "--start"),
    "customers_not_an_integer": (["produce", "--customers", "dez"], "--customers"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_option_is_one_line_and_sends_nothing(run_cli, tmp_path: Path, case: str) -> None:
    args, fragment = CASES[case]
    expected = tmp_path / "expected.json"
    code, out, err = run_cli("notifications", *args, "--expected", expected)
    assert code == 2, (out, err)
    assert fragment in err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len([ln for ln in lines if "error" in ln.lower() or "Error" in ln]) >= 1
    assert not expected.exists()
    assert "registros enviados" not in out  # nothing was produced
