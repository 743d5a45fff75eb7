"""The single-file CSV writer both systems use."""

from __future__ import annotations

from decimal import Decimal

from esteira.invoices.io import write_csv_file


def test_csv_file_keeps_order_dot_decimals_empty_nulls_and_quotes_only_when_needed(spark, tmp_path):
    plain = spark.createDataFrame(
        [("b", Decimal("55400.00")), ("a", None)], "k string, v decimal(20,2)"
    ).orderBy("k")
    write_csv_file(plain, tmp_path / "plain.csv")
    assert (tmp_path / "plain.csv").read_text() == "k,v\na,\nb,55400.00\n"
    tricky = spark.createDataFrame([("a,b", None), ('x"y', "z")], "k string, v string")
    write_csv_file(tricky.orderBy("k"), tmp_path / "tricky.csv")
    assert (tmp_path / "tricky.csv").read_text() == 'k,v\n"a,b",\n"x""y",z\n'
