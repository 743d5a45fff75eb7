"""The averaging rules on tiny inline frames, on both engines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from esteira.invoices import transforms
from esteira.quality import QualityReport, flag_failures, passed_rows, rejected_rows

D = Decimal
JAN_2020 = date(2020, 1, 1)


def _invoices(spark: SparkSession, rows: list[tuple[str, str, str, str]]):
    return spark.createDataFrame(
        rows, "customer string, account string, month string, invoice string"
    )


def test_truncates_to_cents_and_excludes_the_reference_month(spark):
    rows = [("C", "A", f"2019-{m:02d}-01", a) for m, a in [(10, "1"), (11, "1"), (12, "0.01")]]
    rows.append(("C", "A", "2020-01-01", "999"))  # R itself never counts
    result = transforms.average_invoices(_invoices(spark, rows), JAN_2020, [3])
    schema = "customer string, account string, avg_invoices_last_3_months decimal(20,2)"
    expected = spark.createDataFrame([("C", "A", D("0.67"))], schema)  # 2.01 / 3
    assertDataFrameEqual(result, expected)


def test_cuts_not_rounds_and_sums_a_month_first(spark):
    rows = [
        ("C", "A", "2019-10-01", "2.00"),
        ("C", "A", "2019-11-01", "1.00"),
        ("C", "A", "2019-12-01", "1.00"),
        ("C", "A", "2019-12-01", "1.00"),  # same month: added into 2.00
    ]
    result = transforms.average_invoices(_invoices(spark, rows), JAN_2020, [3])
    # 5.00 / 3 = 1.666..: cut to 1.66 (rounding gives 1.67); two December invoices are
    # one month, so the window holds 3 months, not 4.
    schema = "customer string, account string, avg_invoices_last_3_months decimal(20,2)"
    assertDataFrameEqual(result, spark.createDataFrame([("C", "A", D("1.66"))], schema))


def test_null_when_a_window_month_has_no_invoice_and_any_windows(spark):
    rows = [
        ("C", "A", "2019-12-01", "10"),
        ("C", "A", "2019-11-01", "20"),
        ("C", "A", "2019-09-01", "30"),  # 2019-10 missing: the 3-month window is short
        ("C", "B", "2018-01-01", "5"),  # only long ago: a row with nulls all the same
    ]
    result = transforms.average_invoices(_invoices(spark, rows), JAN_2020, [1, 2, 3])
    expected = spark.createDataFrame(
        [("C", "A", D("10.00"), D("15.00"), None), ("C", "B", None, None, None)],
        "customer string, account string, avg_invoices_last_1_months decimal(20,2), "
        "avg_invoices_last_2_months decimal(20,2), avg_invoices_last_3_months decimal(20,2)",
    )
    assertDataFrameEqual(result, expected)


def test_rules_name_each_bad_row(spark):
    rows = [
        ("C", "A", "2019-12-01", "10.50"),
        ("C", "A", "2019-12-15", "1"),
        ("C", "A", "2019-13-01", "1"),
        ("C", "A", "2019-12-01", "-1"),
        ("C", "A", "2019-12-01", "1,50"),
        ("C", None, "2019-12-01", "1"),
        ("C", "A", None, "1"),
    ]
    df = spark.createDataFrame(
        rows, "customer string, account string, month string, invoice string"
    )
    rules = transforms.invoice_rules("drop")
    flagged = flag_failures(df, rules)
    reasons = {
        (r["month"], r["invoice"]): r["regra"] for r in rejected_rows(flagged, rules).collect()
    }
    assert reasons == {
        ("2019-12-15", "1"): "month is not the first day of a month (YYYY-MM-01)",
        ("2019-13-01", "1"): "month is not the first day of a month (YYYY-MM-01)",
        ("2019-12-01", "-1"): "invoice is negative",
        ("2019-12-01", "1,50"): "invoice is not a number",
        ("2019-12-01", "1"): "account is missing",
        (None, "1"): "month is missing",
    }
    assert passed_rows(flagged, rules).count() == 1
    per_account = transforms.account_windows(df, JAN_2020, [1], rules)
    counts = transforms.rule_counts(per_account, rules).collect()[0]
    report = QualityReport.from_counts(rules, counts.asDict())
    assert (report.rows, report.rejected, report.passed) == (7, 6, 1)
    assert list(report.failures.values()) == [0, 1, 1, 2, 0, 1, 1]
    only_good = transforms.averages(per_account, [1]).collect()
    assert [(r["account"], r["avg_invoices_last_1_months"]) for r in only_good] == [
        ("A", D("10.50"))
    ]


def test_windows_longer_than_the_bitmask_count_months_too(spark):
    back = [2020 * 12 - i for i in range(1, 65)]  # the 64 months before 2020-01
    rows = [("C", "A", f"{m // 12}-{m % 12 + 1:02d}-01", "1") for m in back]
    result = transforms.average_invoices(_invoices(spark, rows), JAN_2020, [64, 65]).collect()
    assert (result[0]["avg_invoices_last_64_months"], result[0]["avg_invoices_last_65_months"]) == (
        D("1.00"),
        None,
    )


def test_typed_sources_are_read_as_their_text(spark):
    df = spark.createDataFrame(
        [("C", "A", date(2019, 12, 1), D("10000000.50"))],
        "customer string, account string, month date, invoice decimal(12,2)",
    )
    text = transforms.invoices_as_text(df).collect()[0]
    assert (text["month"], text["invoice"]) == ("2019-12-01", "10000000.500000")
