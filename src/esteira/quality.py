"""Data-quality expectations, reused by every pipeline (after Databricks DLT expectations).

A pipeline declares named rules as SQL boolean expressions that a good row satisfies,
each with an action:
- warn: the row stays; the failures are counted in the run log;
- drop: the row goes to the rejects output with the names of the rules it broke;
- fail: one failing row stops the run before anything is written.
A condition that evaluates to NULL counts as broken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from esteira.errors import QualityError

Action = Literal["warn", "drop", "fail"]
FAILED = "_dq_failed"
REJECT_REASON = "regra"


@dataclass(frozen=True)
class Expectation:
    name: str
    condition: str
    action: Action = "warn"

    def broken(self) -> Column:
        return ~F.coalesce(F.expr(self.condition), F.lit(False))


def flag_failures(df: DataFrame, rules: list[Expectation]) -> DataFrame:
    """Adds `_dq_failed`: the names of the rules each row breaks (empty when none)."""
    if not rules:
        return df.withColumn(FAILED, F.array().cast("array<string>"))
    names = [F.when(rule.broken(), F.lit(rule.name)) for rule in rules]
    return df.withColumn(FAILED, F.filter(F.array(*names), lambda x: x.isNotNull()))


def _broke_any(rules: list[Expectation], actions: tuple[str, ...]) -> Column:
    names = [r.name for r in rules if r.action in actions]
    if not names:
        return F.lit(False)
    return F.arrays_overlap(F.col(FAILED), F.array(*[F.lit(n) for n in names]))


def passed_rows(flagged: DataFrame, rules: list[Expectation]) -> DataFrame:
    """Rows that broke no drop/fail rule, without the flag column."""
    return flagged.filter(~_broke_any(rules, ("drop", "fail"))).drop(FAILED)


def rejected_rows(flagged: DataFrame, rules: list[Expectation]) -> DataFrame:
    """Rows that broke a drop rule, with `regra`: the broken drop rules, comma-separated."""
    drop_names = F.array(*[F.lit(r.name) for r in rules if r.action == "drop"] or [F.lit("")])
    return (
        flagged.filter(_broke_any(rules, ("drop",)))
        .withColumn(REJECT_REASON, F.array_join(F.array_intersect(F.col(FAILED), drop_names), ","))
        .drop(FAILED)
    )


def failure_counts(flagged: DataFrame, rules: list[Expectation]) -> DataFrame:
    """One row: the number of rows breaking each rule, plus `_rows`, the rows seen."""
    aggs = [F.count(F.lit(1)).alias("_rows")]
    aggs += [
        F.sum(F.array_contains(F.col(FAILED), r.name).cast("long")).alias(f"r{i}")
        for i, r in enumerate(rules)
    ]
    return flagged.agg(*aggs)


@dataclass
class QualityReport:
    rows: int
    failures: dict[str, int]
    rules: list[Expectation]

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {
            r.name: {"action": r.action, "failed": self.failures[r.name]} for r in self.rules
        }

    def raise_on_fail(self, source: str) -> None:
        broken = [
            f"{r.name} ({self.failures[r.name]} rows)"
            for r in self.rules
            if r.action == "fail" and self.failures[r.name]
        ]
        if broken:
            failed = ", ".join(broken)
            raise QualityError(f"{source}: expectation failed: {failed}; nothing written")


def measure(flagged: DataFrame, rules: list[Expectation]) -> QualityReport:
    """Runs the counting query (an action: call it from a job, never from a transform)."""
    row = failure_counts(flagged, rules).collect()[0]
    failures = {r.name: int(row[f"r{i}"] or 0) for i, r in enumerate(rules)}
    return QualityReport(rows=int(row["_rows"]), failures=failures, rules=rules)
