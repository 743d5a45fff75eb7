"""Invoice averages over the last N calendar months before a reference month (Questão 2).

The rules, which reproduce the seed's expected table exactly:
- the window of N months for reference month R is the N calendar months before R, R
  excluded (N=3, R=2020-01: 2019-10, 2019-11, 2019-12);
- several invoices of one account in one month are first added into that month's amount;
- an average is the window's sum / N in decimal arithmetic, truncated (not rounded) to
  cents: 248500 / 6 = 41416.66 (rounding would give 41416.67);
- when fewer than N months of the window have an invoice, the average is null.
Every account of the input gets a row, even one with no invoice in any window.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from esteira.invoices.schemas import AMOUNT_TYPE, AVERAGE_TYPE, INPUT_COLUMNS, KEYS, average_column
from esteira.quality import Action, Expectation

_FIRST_OF_MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])-01$"
# At most 18 integer digits, so that the cast to decimal(24,6) can never overflow.
_NUMBER = r"^-?[0-9]{1,18}([.][0-9]+)?$"


def invoice_rules(action: Action = "drop") -> list[Expectation]:
    """What makes an invoice row unusable; each name is the reason a reject carries."""

    def present(column: str) -> str:
        return f"nullif(trim({column}), '') IS NOT NULL"

    return [
        Expectation("customer is missing", present("customer"), action),
        Expectation("account is missing", present("account"), action),
        Expectation("month is missing", present("month"), action),
        Expectation(
            "month is not the first day of a month (YYYY-MM-01)",
            f"month IS NULL OR trim(month) rlike '{_FIRST_OF_MONTH}'",
            action,
        ),
        Expectation("invoice is missing", present("invoice"), action),
        Expectation(
            "invoice is not a number",
            f"invoice IS NULL OR trim(invoice) rlike '{_NUMBER}'",
            action,
        ),
        Expectation("invoice is negative", "NOT coalesce(trim(invoice) LIKE '-%', false)", action),
    ]


def usable_rows(rows: DataFrame, rules: Sequence[Expectation]) -> DataFrame:
    """Rows that break none of `rules`: one boolean filter, cheaper than flagging."""
    return rows.filter(reduce(operator.and_, [~rule.broken() for rule in rules]))


def invoices_as_text(invoices: DataFrame) -> DataFrame:
    """The four input columns as text, whatever the source typed them as.

    CSV arrives as text already; Parquet/Delta may hold a date month and a numeric
    amount, which are written the way a CSV would hold them so one set of rules applies.
    """
    types = {f.name: f.dataType for f in invoices.schema.fields}
    return invoices.select(*[_as_text(F.col(c), types[c]).alias(c) for c in INPUT_COLUMNS])


def _as_text(column: Column, dtype: T.DataType) -> Column:
    if isinstance(dtype, T.DateType):
        return F.date_format(column, "yyyy-MM-dd")
    if isinstance(dtype, T.TimestampType | T.TimestampNTZType):
        midnight = F.date_trunc("day", column) == column
        return F.when(midnight, F.date_format(column, "yyyy-MM-dd")).otherwise(
            column.cast("string")
        )
    if isinstance(dtype, T.NumericType):
        return column.cast(AMOUNT_TYPE).cast("string")  # never 1.0E7 notation
    return column.cast("string")


def typed_invoices(valid: DataFrame) -> DataFrame:
    """Rows that passed invoice_rules, typed: month a date, invoice decimal(24,6)."""
    return valid.select(
        F.trim("customer").alias("customer"),
        F.trim("account").alias("account"),
        F.to_date(F.trim("month"), "yyyy-MM-dd").alias("month"),
        F.trim("invoice").cast(AMOUNT_TYPE).alias("invoice"),
    )


def average_invoices(invoices: DataFrame, reference: date, windows: Sequence[int]) -> DataFrame:
    """One row per (customer, account): avg_invoices_last_N_months for each N in windows.

    `invoices` is typed (see typed_invoices); `reference` is the first day of R. One
    aggregation does it all: each row's `age` (1 = the month before R) picks the windows
    it falls in, and a bit per month of age records which months hold an invoice, so
    the months of a window are counted without grouping by month first.
    """
    ref_index = reference.year * 12 + reference.month - 1
    age = F.lit(ref_index) - (F.year("month") * 12 + F.month("month") - 1)
    aggs = []
    for n in windows:
        inside = (age >= 1) & (age <= n)
        aggs.append(F.sum(F.when(inside, F.col("invoice"))).alias(f"_sum_{n}"))
        aggs.append(_months_with_invoice(inside, age, n).alias(f"_months_{n}"))
    per_account = invoices.groupBy(*KEYS).agg(*aggs)
    averages = [
        F.when(F.col(f"_months_{n}") == n, _truncated_mean(f"_sum_{n}", n)).alias(average_column(n))
        for n in windows
    ]
    return per_account.select(*KEYS, *averages)


def _months_with_invoice(inside: Column, age: Column, months: int) -> Column:
    """How many distinct months of the window hold an invoice (a bitmask up to 63)."""
    if months <= 63:
        bit = F.shiftleft(F.lit(1).cast("long"), (age - 1).cast("int"))
        return F.bit_count(F.bit_or(F.when(inside, bit)))
    return F.count_distinct(F.when(inside, age))


def _truncated_mean(total: str, months: int) -> Column:
    """total / months cut (not rounded) to cents; exact: integer division of cents."""
    cents = F.expr(f"(`{total}` * 100) div {months}")
    return (cents.cast("decimal(38,2)") / 100).cast(AVERAGE_TYPE)
