"""`esteira invoices averages` on bad input (issue 13, items 1, 4c and 5), both engines.

Every input carries canary personal values (a CPF as customer, a phone as account, an
e-mail or a sentence where a month or an amount belongs). Each case ends with exit
status 2 and one line naming the file and the problem (the line and the column for a bad
row), no canary in any output channel, and the output table at the version it had.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from canaries import CPF, CPF_DIGITS, EMAIL, PHONE, SENTENCE
from esteira import cli
from privacy import Gatherer, snapshot

HEADER = "customer,account,month,invoice"
GOOD = [
    f"{CPF},{PHONE},2019-12-01,300.00",
    f"{CPF},{PHONE},2019-11-01,100.00",
    f"{CPF_DIGITS},A2,2019-10-01,50.00",
]


def write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def first_run(engine: str, spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good invoices and an earlier successful run: averages (Delta) and rejects.csv."""
    root = tmp_path_factory.mktemp("invoices_bad_input")
    good = write(root / "invoices.csv", [HEADER, *GOOD])
    code = cli.main(
        ["--engine", engine, "invoices", "averages", "--input", good, "--out",
         str(root / "averages"), "--format", "delta", "--reference", "2020-01"]
    )
    assert code == 0
    return root


def _no_header(root: Path) -> str:
    return write(root / "no_header.csv", GOOD)


def _wrong_delimiter(root: Path) -> str:
    return write(root / "semicolons.csv", [HEADER.replace(",", ";")] + [
        g.replace(",", ";") for g in GOOD
    ])


def _empty(root: Path) -> str:
    return write(root / "empty.csv", [])


def _missing_column(root: Path) -> str:
    return write(root / "no_month.csv", ["customer,account,invoice", f"{CPF},{PHONE},1.00"])


def _does_not_exist(root: Path) -> str:
    return str(root / "nowhere.csv")


def _wrong_type(root: Path) -> str:
    return write(root / "bad_amount.csv", [HEADER, GOOD[0], f"{CPF},{PHONE},2019-11-01,{EMAIL}"])


def _wrong_month(root: Path) -> str:
    return write(root / "bad_month.csv", [HEADER, f"{CPF},{PHONE},{SENTENCE},1.00", GOOD[1]])


def _truncated_parquet(root: Path) -> str:
    full = root / "full.parquet"
    pq.write_table(pa.table({"customer": [CPF], "account": [PHONE], "month": ["2019-12-01"],
                             "invoice": ["1.00"]}), full)
    path = root / "truncated.parquet"
    path.write_bytes(full.read_bytes()[:-40])
    return str(path)


def _corrupt_delta(root: Path) -> str:
    table = root / "invoices_delta"
    if not table.exists():
        shutil.copytree(root / "averages", table)
        log = sorted((table / "_delta_log").glob("*.json"))[-1]
        log.write_bytes(log.read_bytes()[:60])
    return str(table)


CASES = {
    "no_header": (_no_header, ["missing column(s)", "header line"]),
    "wrong_delimiter": (_wrong_delimiter, ["missing column(s)", "delimiter"]),
    "empty_file": (_empty, ["missing column(s)"]),
    "missing_column": (_missing_column, ["missing column(s) month"]),
    "does_not_exist": (_does_not_exist, ["does not exist"]),
    "wrong_type": (_wrong_type, ["line 3 (row 2)", "invoice is not a number"]),
    "wrong_month": (_wrong_month, ["line 2 (row 1)", "month is not the first day"]),
    "truncated_parquet": (_truncated_parquet, ["cannot be read as parquet"]),
    "corrupt_delta_log": (_corrupt_delta, ["cannot be read as delta"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_leaks_nothing_and_writes_nothing(
    engine: str, capfd: pytest.CaptureFixture[str], first_run: Path, case: str
) -> None:
    make, fragments = CASES[case]
    source = make(first_run)
    out = first_run / "averages"
    before = snapshot(out)
    for result in Gatherer(engine, capfd).both_formats(
        "invoices", "averages", "--input", source, "--out", out, "--format", "delta",
        "--reference", "2020-01",
    ):
        result.assert_clean()
        result.expect_error(2, Path(source).name, *fragments)
        assert result.runlog and result.runlog[-1]["status"] == "failed"
    assert snapshot(out) == before
    assert not list(first_run.glob(".averages.staging/*"))  # scratch removed
