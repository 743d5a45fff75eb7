"""`esteira invoices averages` end to end through the CLI, on both engines.

tests/invoices/data/invoices.csv is built in the seed's shape so that the seed's expected
table comes out exactly, including 41.416,66 (248500 / 6, cut, not rounded).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

EXPECTED_TABLE = """\
| customer | account | avg_invoices_last_3_months | avg_invoices_last_6_months |
|---|---|---|---|
| C1000 | A1100 | 56.333,33 | 41.416,66 |
| C1000 | A1200 | 50.666,66 | null |
| C1000 | A1300 | null | null |
| C2000 | A2100 | 55.400,00 | null |
"""

EXPECTED_CSV = """\
customer,account,avg_invoices_last_3_months,avg_invoices_last_6_months
C1000,A1100,56333.33,41416.66
C1000,A1200,50666.66,
C1000,A1300,,
C2000,A2100,55400.00,
"""


def test_seed_table_comes_out_exactly(run_cli, spark, tmp_path):
    out = tmp_path / "averages.csv"
    code, stdout, err = run_cli(
        "invoices",
        "averages",
        "--input",
        DATA / "invoices.csv",
        "--reference",
        "2020-01",
        "--windows",
        "3,6",
        "--show-values",
        "--out",
        out,
    )
    assert code == 0, err
    assert EXPECTED_TABLE in stdout
    assert f"4 accounts -> {out}" in stdout  # results on stdout, so `> file` keeps them
    assert "accounts ->" not in err
    assert out.read_text() == EXPECTED_CSV


def test_bad_rows_go_to_rejects_and_the_rest_iscomputed(run_cli, spark, tmp_path):
    out, rejects = tmp_path / "averages", tmp_path / "rejects.csv"
    code, stdout, err = run_cli(
        "invoices",
        "averages",
        "--input",
        DATA / "invoices_with_bad_rows.csv",
        "--show-values",
        "--out",
        out,
        "--format",
        "delta",
        "--rejects",
        rejects,
    )
    assert code == 0, err
    assert EXPECTED_TABLE in stdout
    assert (out / "_delta_log").is_dir()
    assert f"4 rows rejected -> {rejects}" in stdout
    assert rejects.read_text().splitlines() == [
        "customer,account,month,invoice,regra",
        "C1000,A1100,2019-12-15,10.00,month is not the first day of a month (YYYY-MM-01)",
        "C1000,A1200,2019-11-01,-5.00,invoice is negative",
        "C2000,A2100,2019-10-01,abc,invoice is not a number",
        "C2000,,2019-10-01,1.00,account is missing",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_month", "line 3 (row 2): month is not the first day of a month"),
        ("negative_invoice", "line 3 (row 2): invoice is negative"),
        ("non_numeric_invoice", "line 3 (row 2): invoice is not a number"),
        ("missing_month_column", "missing column(s) month; found 3 column(s)"),
    ],
)
def test_bad_input_is_one_line_naming_the_row_and_writes_nothing(
    run_cli, spark, tmp_path, name, message
):
    out = tmp_path / "averages.csv"
    out.write_text("previous result\n")
    code, stdout, err = run_cli(
        "invoices", "averages", "--input", DATA / f"{name}.csv", "--out", out
    )
    assert code == 2
    assert f"{name}.csv: {message}" in " ".join(err.split())
    assert "Traceback" not in err
    assert out.read_text() == "previous result\n"
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]  # scratch removed


def test_bad_options_are_config_errors(run_cli, tmp_path):
    code, _, err = run_cli(
        "invoices",
        "averages",
        "--input",
        DATA / "invoices.csv",
        "--out",
        tmp_path / "o.csv",
        "--windows",
        "3,x",
    )
    assert code == 2
    assert "--windows" in err


def test_typed_parquet_input_and_parquet_output(run_cli, spark, tmp_path):
    source = spark.read.option("header", "true").csv(str(DATA / "invoices.csv"))
    typed = source.selectExpr(
        "customer",
        "account",
        "to_date(month) AS month",
        "CAST(invoice AS decimal(12,2)) AS invoice",
    )
    typed.write.parquet(str(tmp_path / "invoices"))
    out = tmp_path / "averages"
    code, stdout, err = run_cli(
        "invoices",
        "averages",
        "--input",
        tmp_path / "invoices",
        "--windows",
        "6,3",
        "--format",
        "parquet",
        "--show-values",
        "--out",
        out,
    )
    assert code == 0, err
    rows = {
        r["account"]: (r["avg_invoices_last_6_months"], r["avg_invoices_last_3_months"])
        for r in spark.read.parquet(str(out)).collect()
    }
    assert rows == {
        "A1100": (Decimal("41416.66"), Decimal("56333.33")),
        "A1200": (None, Decimal("50666.66")),
        "A1300": (None, None),
        "A2100": (None, Decimal("55400.00")),
    }
    assert (
        "| customer | account | avg_invoices_last_6_months | avg_invoices_last_3_months |" in stdout
    )
