"""Expectations (warn / drop / fail) and the run log, on both engines."""

from __future__ import annotations

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from esteira.errors import QualityError
from esteira.quality import (
    Expectation,
    QualityReport,
    flag_failures,
    measure,
    passed_rows,
    rejected_rows,
)
from esteira.runlog import read_runs, track_run

RULES = [
    Expectation("id_present", "id IS NOT NULL", "drop"),
    Expectation("amount_positive", "amount > 0", "drop"),
    Expectation("email_like", "email LIKE '%@%'", "warn"),
]


@pytest.fixture
def rows(spark):
    return spark.createDataFrame(
        [
            (1, 10.0, "a@x"),
            (None, 5.0, "b@x"),
            (3, -1.0, "bad"),
            (None, -2.0, "c@x"),
            (5, 1.0, None),
        ],
        "id int, amount double, email string",
    )


def test_drop_rules_split_rows_and_name_every_broken_rule(rows):
    flagged = flag_failures(rows, RULES)
    assertDataFrameEqual(
        passed_rows(flagged, RULES),
        [Row(id=1, amount=10.0, email="a@x"), Row(id=5, amount=1.0, email=None)],
    )
    assertDataFrameEqual(
        rejected_rows(flagged, RULES),
        [
            Row(id=None, amount=5.0, email="b@x", regra="id_present"),
            Row(id=3, amount=-1.0, email="bad", regra="amount_positive"),
            Row(id=None, amount=-2.0, email="c@x", regra="id_present,amount_positive"),
        ],
    )


def test_counts_per_rule_and_null_counts_as_broken(rows):
    report = measure(flag_failures(rows, RULES), RULES)
    assert report.rows == 5
    assert report.failures == {"id_present": 2, "amount_positive": 2, "email_like": 2}
    report.raise_on_fail("x")  # no fail rules: nothing raised


def test_fail_rule_stops_the_run(rows):
    rules = [Expectation("unique_ids", "id IS NOT NULL", "fail")]
    report = measure(flag_failures(rows, rules), rules)
    with pytest.raises(QualityError, match=r"unique_ids \(2 rows\)"):
        report.raise_on_fail("table x")


def test_run_log_records_success_and_failure(tmp_path, rows):
    runs_file = tmp_path / "runs.jsonl"
    with track_run(runs_file, "demo", "sail") as run:
        run.inputs = {"rows": 5}
        run.record_quality("rows", measure(flag_failures(rows, RULES), RULES))
    with pytest.raises(QualityError), track_run(runs_file, "demo", "sail"):
        raise QualityError("broken")
    ok, failed = read_runs(runs_file)
    assert ok["status"] == "succeeded" and ok["inputs"] == {"rows": 5}
    assert ok["rules"]["rows.amount_positive"] == {"action": "drop", "failed": 2}
    assert failed["status"] == "failed" and failed["error"] == "broken"


def test_rejected_counts_rows_once_and_groups_add_up(rows):
    flagged = flag_failures(rows.withColumn("grupo", (rows.amount > 0).cast("string")), RULES)
    report = measure(flagged, RULES, by="grupo")
    # rows 2, 3 and 4 break a drop rule (row 4 breaks two): three rows set aside
    assert (report.rows, report.rejected, report.passed) == (5, 3, 2)
    assert report.failures == {"id_present": 2, "amount_positive": 2, "email_like": 2}
    positive, negative = report.groups["true"], report.groups["false"]
    assert (positive.rows, positive.rejected) == (3, 1)
    assert (negative.rows, negative.rejected) == (2, 2)
    assert negative.failures == {"id_present": 1, "amount_positive": 2, "email_like": 1}


def test_report_from_counts_gathered_elsewhere():
    report = QualityReport.from_counts(RULES, {"_rows": 7, "_rejected": 2, "_rule_1": 2})
    assert report.failures == {"id_present": 0, "amount_positive": 2, "email_like": 0}
    assert report.passed == 5


def test_the_run_log_counts_rows_set_aside_per_source(tmp_path, rows):
    runs_file = tmp_path / "runs.jsonl"
    with track_run(runs_file, "demo", "sail") as run:
        report = measure(flag_failures(rows, RULES), RULES)
        run.record_quality("rows", report)
        run.record_quality("other", report)
        run.record_quality("rows", measure(flag_failures(rows.filter("id = 3"), RULES), RULES))
    (record,) = read_runs(runs_file)
    assert record["rejected"] == {"rows": 4, "other": 3}  # row 3 is set aside again
