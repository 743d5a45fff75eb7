"""Writing the averages: one CSV file (connectors.files' writer), Parquet or Delta."""

from __future__ import annotations

from decimal import Decimal

import pytest

from esteira.invoices import io


def test_csv_file_keeps_order_dot_decimals_empty_nulls_and_quotes_only_when_needed(spark, tmp_path):
    plain = spark.createDataFrame(
        [("b", Decimal("55400.00")), ("a", None)], "k string, v decimal(20,2)"
    ).orderBy("k")
    io.write_output(plain, tmp_path / "plain.csv", "csv")
    assert (tmp_path / "plain.csv").read_text() == "k,v\na,\nb,55400.00\n"
    tricky = spark.createDataFrame([("a,b", None), ('x"y', "z")], "k string, v string")
    io.write_rejects(tricky.orderBy("k"), tmp_path / "tricky.csv")
    assert (tmp_path / "tricky.csv").read_text() == 'k,v\n"a,b",\n"x""y",z\n'


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
def test_a_folder_output_is_replaced_whole(spark, tmp_path, fmt):
    out = tmp_path / "averages"
    schema = "account string, v decimal(20,2)"
    io.write_output(spark.createDataFrame([("A1", Decimal("1.00"))], schema), out, fmt)
    second = spark.createDataFrame([("A2", Decimal("2.50")), ("A3", None)], schema)
    io.write_output(second, out, fmt)
    rows = sorted(tuple(r) for r in io.read_output(spark, out, fmt).collect())
    assert rows == [("A2", Decimal("2.50")), ("A3", None)]
    assert [p.name for p in tmp_path.iterdir()] == ["averages"]  # no temporary left beside
