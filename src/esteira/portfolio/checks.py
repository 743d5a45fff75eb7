"""The invariants an assignment must hold before anything is written: `fail` rules.

A broken one means a bug in the distribution, never bad input (bad input goes to
rejects), so the run stops and writes no table. The rules are checked on three small
frames of different grain, each the one where its condition reads as a row test:
- per client id (valid or placed): placed, placed once, and a valid client;
- per manager holding clients: within its capacity;
- per assigned client: the manager's chave_unica is the client's.
A condition that is NULL counts as broken (a manager unknown to the capacities, say).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from esteira.portfolio.transforms import CLIENT, KEY, MANAGER
from esteira.quality import Expectation, failure_counts, flag_failures, rule_column

CLIENT_RULES = [
    Expectation("missing", "placements IS NOT NULL", "fail"),
    Expectation("duplicated", "coalesce(placements, 0) <= 1", "fail"),
    Expectation("extra", "is_valid", "fail"),
]
MANAGER_RULES = [Expectation("over_capacity", "load <= cap", "fail")]
PAIR_RULES = [Expectation("key_mismatch", "client_key = manager_key", "fail")]
RULES = [*CLIENT_RULES, *MANAGER_RULES, *PAIR_RULES]


def validation_counts(
    assigned: DataFrame, unassigned: DataFrame, clients: DataFrame, capacities: DataFrame
) -> DataFrame:
    """One row of counts for `QualityReport.from_counts(RULES, row)`: `_rows` (client ids
    checked), `_rejected` (those breaking a client rule) and `rule_column(i)`, the rows
    breaking RULES[i]. Every rule column must be zero before anything is written."""
    placed = assigned.select(CLIENT).unionByName(unassigned.select(CLIENT))
    per_client = placed.groupBy(CLIENT).agg(F.count(F.lit(1)).alias("placements"))
    valid = clients.select(CLIENT, F.lit(True).alias("is_valid"))  # ids are unique
    coverage = valid.join(per_client, CLIENT, "full_outer")
    loads = (
        assigned.groupBy(MANAGER)
        .agg(F.count(F.lit(1)).alias("load"))
        .join(capacities.select(MANAGER, "cap"), MANAGER, "left")
    )
    pairs = assigned.select(MANAGER, F.col(KEY).alias("client_key")).join(
        capacities.select(MANAGER, F.col(KEY).alias("manager_key")), MANAGER, "left"
    )
    client_counts = _counts(coverage, CLIENT_RULES, 0, keep_rows=True)
    manager_counts = _counts(loads, MANAGER_RULES, len(CLIENT_RULES))
    pair_counts = _counts(pairs, PAIR_RULES, len(CLIENT_RULES) + len(MANAGER_RULES))
    return client_counts.crossJoin(manager_counts).crossJoin(pair_counts)


def _counts(
    df: DataFrame, rules: list[Expectation], first: int, keep_rows: bool = False
) -> DataFrame:
    """The failure counts of `rules`, renumbered from RULES[first] on."""
    counts = failure_counts(flag_failures(df, rules), rules)
    columns = [F.col(rule_column(i)).alias(rule_column(first + i)) for i in range(len(rules))]
    return counts.select(*(["_rows", "_rejected"] if keep_rows else []), *columns)
