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
from esteira.quality import Action, Expectation, rule_column

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


def account_windows(
    text: DataFrame, reference: date, windows: Sequence[int], rules: Sequence[Expectation]
) -> DataFrame:
    """One pass over the rows: per (customer, account), each window's sum and months.

    `text` is invoices_as_text's output; `reference` is the first day of R. Rows that
    break a rule (every invoice rule drops or fails) are left out of the sums and
    counted instead, in quality.failure_counts' columns: `_rows`, `_rejected` and
    `_rule_<i>` (rows breaking rules[i]), so that checking needs no second pass. Each
    row's `age` (1 = the month before R) picks the windows it falls in, and a bit per
    month of age records which months hold an invoice: the months of a window are
    counted without grouping by month first (several invoices of a month add up).
    """
    broken = [rule.broken() for rule in rules]
    bad = reduce(operator.or_, broken) if broken else F.lit(False)
    ok = ~bad
    month = F.trim("month")
    index = F.substring(month, 1, 4).cast("int") * 12 + F.substring(month, 6, 2).cast("int") - 1
    ref_index = reference.year * 12 + reference.month - 1
    age = F.when(ok, F.lit(ref_index) - index)
    amount = F.when(ok, F.trim("invoice").cast(AMOUNT_TYPE))
    aggs = [
        F.count(F.lit(1)).alias("_rows"),
        F.sum(bad.cast("long")).alias("_rejected"),
        *[F.sum(b.cast("long")).alias(rule_column(i)) for i, b in enumerate(broken)],
    ]
    for n in windows:
        inside = (age >= 1) & (age <= n)
        aggs.append(F.sum(F.when(inside, amount)).alias(f"_sum_{n}"))
        aggs.append(_months_with_invoice(inside, age, n).alias(f"_months_{n}"))
    keys = [F.trim(k).alias(k) for k in KEYS]
    return text.groupBy(*keys).agg(*aggs)


def averages(per_account: DataFrame, windows: Sequence[int]) -> DataFrame:
    """The result: accounts with at least one good row, one average per window.

    An average is null unless all N months of its window hold an invoice.
    """
    columns = [
        F.when(F.col(f"_months_{n}") == n, _truncated_mean(f"_sum_{n}", n)).alias(average_column(n))
        for n in windows
    ]
    return per_account.filter(F.col("_rows") > F.col("_rejected")).select(*KEYS, *columns)


def rule_counts(per_account: DataFrame, rules: Sequence[Expectation]) -> DataFrame:
    """One row: rows read, rows rejected and rows breaking each rule, summed over the
    accounts: what quality.QualityReport.from_counts reads."""
    names = ["_rows", "_rejected", *[rule_column(i) for i in range(len(rules))]]
    return per_account.agg(*[F.coalesce(F.sum(c), F.lit(0)).alias(c) for c in names])


def average_invoices(
    text: DataFrame,
    reference: date,
    windows: Sequence[int],
    rules: Sequence[Expectation] | None = None,
) -> DataFrame:
    """avg_invoices_last_N_months per (customer, account) for each N, bad rows left out."""
    rules = invoice_rules() if rules is None else rules
    return averages(account_windows(text, reference, windows, rules), windows)


def _months_with_invoice(inside: Column, age: Column, months: int) -> Column:
    """How many distinct months of the window hold an invoice (a bitmask up to 63)."""
    if months <= 63:
        # call_function: classic PySpark's shiftleft takes only a constant shift.
        bit = F.call_function("shiftleft", F.lit(1).cast("long"), (age - 1).cast("int"))
        return F.bit_count(F.bit_or(F.when(inside, bit)))
    return F.count_distinct(F.when(inside, age))


def _truncated_mean(total: str, months: int) -> Column:
    """total / months cut (not rounded) to cents; exact: integer division of cents."""
    cents = F.expr(f"(`{total}` * 100) div {months}")
    return (cents.cast("decimal(38,2)") / 100).cast(AVERAGE_TYPE)
