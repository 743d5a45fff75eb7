"""`esteira invoices averages`: no personal data in any output channel on the success
path, the preview masked unless --show-values, and the run log's counts are the files'
(issue 13, items 1 and 7), both engines. Failure paths: test_bad_input.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from canaries import CPF, EMAIL, NAME, PHONE, SENTENCE, leaks
from privacy import Gatherer

from .test_bad_input import GOOD, HEADER, write

BROKEN = [
    f"{CPF},{PHONE},2019-12-01,{EMAIL}",  # invoice is not a number
    f"{CPF},{PHONE},{SENTENCE},1.00",  # month is not a month
    f"{NAME},,2019-12-01,1.00",  # account is missing
]


def test_success_path_masks_the_preview_leaks_nothing_and_counts_match(
    engine: str, spark, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write(tmp_path / "invoices.csv", [HEADER, *GOOD, *BROKEN])
    out, rejects = tmp_path / "averages.csv", tmp_path / "rejects.csv"
    args = ("invoices", "averages", "--input", source, "--out", out, "--rejects", rejects,
            "--reference", "2020-01", "--windows", "3")
    gather = Gatherer(engine, capfd)
    for result in gather.both_formats(*args):
        assert result.code == 0, result.stderr[-2000:]
        result.assert_clean()
        assert "| *** | *** |" in result.stdout
    shown = gather.run(*args, "--show-values")
    assert shown.code == 0 and leaks(shown.stdout) and not leaks(shown.stderr)

    record = result.runlog[-1]
    with out.open(newline="") as fh:
        averages = list(csv.DictReader(fh))
    with rejects.open(newline="") as fh:
        rejected = list(csv.DictReader(fh))
    assert record["inputs"] == {"invoices": len(GOOD) + len(BROKEN)}
    assert record["outputs"] == {"rejects": len(rejected), "averages": len(averages)}
    assert len(rejected) == len(BROKEN)
    assert len(averages) == 2  # (CPF, PHONE) and (CPF digits, A2)
