"""Data-quality expectations, reused by every pipeline (after Databricks DLT expectations).

A pipeline declares named rules as SQL boolean expressions that a good row satisfies,
each with an action:
- warn: the row stays; the failures are counted in the run log;
- drop: the row goes to the rejects output with the names of the rules it broke;
- fail: one failing row stops the run before anything is written.
A condition that evaluates to NULL counts as broken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    """Adds `_dq_failed`: the names of the rules each row breaks (empty when none). A
    concat of one- or zero-element arrays, not filter(array, lambda): JVM Spark has no
    generated code for lambdas and evaluated every rule interpreted (measured: docs/orders.md)."""
    none = F.array().cast("array<string>")
    if not rules:
        return df.withColumn(FAILED, none)
    names = [F.when(rule.broken(), F.array(F.lit(rule.name))).otherwise(none) for rule in rules]
    # the cast: Sail's concat types its elements non-null, which a staged copy is not
    return df.withColumn(FAILED, F.concat(*names).cast("array<string>"))


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


def failure_counts(flagged: DataFrame, rules: list[Expectation],
                   by: list[str] | None = None) -> DataFrame:
    """One row (per `by` group): `_rows` seen, `_rejected` (broke a drop or fail rule)
    and the rows breaking each rule, in column `rule_column(i)`."""
    aggs = [
        F.count(F.lit(1)).alias("_rows"),
        F.sum(_broke_any(rules, ("drop", "fail")).cast("long")).alias("_rejected"),
    ]
    aggs += [
        F.sum(F.array_contains(F.col(FAILED), r.name).cast("long")).alias(rule_column(i))
        for i, r in enumerate(rules)
    ]
    return flagged.groupBy(*by).agg(*aggs) if by else flagged.agg(*aggs)


def rule_column(index: int) -> str:
    return f"_rule_{index}"


@dataclass
class QualityReport:
    """Rows seen, rows set aside (a drop or fail rule broken) and failures per rule;
    `groups` holds the same per group (e.g. per channel) when measured `by` one."""

    rows: int
    failures: dict[str, int]
    rules: list[Expectation]
    rejected: int = 0
    groups: dict[str, QualityReport] = field(default_factory=dict)

    @classmethod
    def from_counts(cls, rules: list[Expectation], row: Mapping[str, object]) -> QualityReport:
        """A report from one `failure_counts` row, or any mapping with its columns
        (`_rows`, `_rejected`, `_rule_<i>`): counts a job gathered in a pass of its own."""
        failures = {r.name: int(row.get(rule_column(i)) or 0) for i, r in enumerate(rules)}
        return cls(rows=int(row.get("_rows") or 0), failures=failures, rules=rules,
                   rejected=int(row.get("_rejected") or 0))

    @classmethod
    def from_groups(cls, rules: list[Expectation], rows: list[Mapping[str, object]],
                    by: str) -> QualityReport:
        """A report summed over `failure_counts` rows of each `by` value, kept in `groups`."""
        groups = {str(r[by]): cls.from_counts(rules, r) for r in rows}
        total = cls.from_counts(rules, {})
        for part in groups.values():
            total = total.merge(part)
        total.groups = groups
        return total

    @property
    def passed(self) -> int:
        return self.rows - self.rejected

    def merge(self, other: QualityReport) -> QualityReport:
        """Two reports of the same rules added up (e.g. a stream's batches)."""
        failures = {r.name: self.failures.get(r.name, 0) + other.failures.get(r.name, 0)
                    for r in self.rules}
        return QualityReport(self.rows + other.rows, failures, self.rules,
                             self.rejected + other.rejected)

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


def measure(flagged: DataFrame, rules: list[Expectation],
            by: str | None = None) -> QualityReport:
    """Counts every rule's failures in one query (an action: call it from a job, never
    from a transform); with `by`, also per value of that column, in `groups`."""
    rows = [r.asDict() for r in failure_counts(flagged, rules, [by] if by else None).collect()]
    if by:
        return QualityReport.from_groups(rules, rows, by)
    return QualityReport.from_counts(rules, rows[0])
