"""Shared column helpers: blanks, e-mails, Brazilian phones, CPFs (both engines)."""

from __future__ import annotations

from pyspark.sql import functions as F

from esteira.columns import (
    blank_to_null,
    is_blank,
    is_valid_cpf,
    is_valid_email,
    is_valid_phone_br,
    normalize_cpf,
    normalize_phone_br,
)


def _values(spark, values, fn):
    df = spark.createDataFrame([(v,) for v in values], "v string")
    return [r.x for r in df.select(fn(F.col("v")).alias("x")).collect()]


def test_blanks(spark):
    assert _values(spark, [None, "", "  ", "a"], is_blank) == [True, True, True, False]
    assert _values(spark, [None, " ", " a "], blank_to_null) == [None, None, "a"]


def test_emails(spark):
    values = ["cliente@exemplo.com", "a.b+c@x.com.br", "sem-arroba.com", "a@b", "a @b.com", None]
    assert _values(spark, values, is_valid_email) == [True, True, False, False, False, False]


def test_phones(spark):
    values = ["(11) 98888-7777", "+55 11 98888-7777", "011 3333-4444", "999999999", "12", None]
    assert _values(spark, values, normalize_phone_br) == [
        "11988887777",
        "11988887777",
        "1133334444",
        "999999999",
        "12",
        None,
    ]
    assert _values(spark, values, is_valid_phone_br) == [True, True, True, False, False, False]


def test_cpfs(spark):
    values = ["529.982.247-25", "52998224725", "529.982.247-24", "111.111.111-11", "123", None]
    assert _values(spark, values, is_valid_cpf) == [True, True, False, False, False, False]
    assert _values(spark, ["1234567890"], normalize_cpf) == ["01234567890"]
