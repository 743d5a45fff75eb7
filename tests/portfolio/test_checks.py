"""The pre-write checks: every broken invariant is counted under its rule, on both engines."""

from __future__ import annotations

import pytest

from esteira.errors import QualityError
from esteira.portfolio import checks
from esteira.quality import QualityReport


def _report(spark, assigned_rows, client_ids) -> QualityReport:
    capacities = spark.createDataFrame(
        [("G1", "A", 1)], "id_gerente string, chave_unica string, cap long"
    )
    assigned = spark.createDataFrame(
        assigned_rows, "nr_cli long, chave_unica string, id_gerente string"
    )
    unassigned = spark.createDataFrame([], "nr_cli long")
    clients = spark.createDataFrame([(i,) for i in client_ids], "nr_cli long")
    counts = checks.validation_counts(assigned, unassigned, clients, capacities).collect()
    assert len(counts) == 1  # one query, one row
    return QualityReport.from_counts(checks.RULES, counts[0].asDict())


def test_validation_counts_catch_every_broken_invariant(spark):
    report = _report(spark, [(1, "A", "G1"), (2, "B", "G1"), (2, "B", "G1")], [1, 2, 3])
    assert report.failures == {
        "missing": 1,
        "duplicated": 1,
        "extra": 0,
        "over_capacity": 1,
        "key_mismatch": 2,
    }
    assert {r.action for r in checks.RULES} == {"fail"}
    with pytest.raises(QualityError, match=r"missing \(1 rows\).*nothing written"):
        report.raise_on_fail("portfolio assignment")


def test_a_placed_client_that_is_not_valid_is_counted_as_extra(spark):
    report = _report(spark, [(1, "A", "G1"), (9, "A", "G1")], [1])
    assert report.failures["extra"] == 1
    assert report.failures["missing"] == report.failures["duplicated"] == 0


def test_a_sound_assignment_breaks_no_rule(spark):
    report = _report(spark, [(1, "A", "G1")], [1])
    assert report.failures == {r.name: 0 for r in checks.RULES}
    assert report.rows == 1
    report.raise_on_fail("portfolio assignment")  # does not raise
