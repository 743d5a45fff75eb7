"""Reads a job's outputs without Spark (deltalake, plain files) to compare two engines.

The reader must not be either engine under test: Delta tables are read with the
deltalake (delta-rs) library, CSV and JSON files as text. Rows are compared as a sorted
list, since neither engine promises an order.
"""

from __future__ import annotations

import json
from pathlib import Path

from deltalake import DeltaTable

Snapshot = dict[str, tuple[list[str], list[str]]]


def snapshot(root: Path) -> Snapshot:
    """Every Delta table, CSV and JSON file under root: (columns or header, sorted rows)."""
    found: Snapshot = {}
    for log in sorted(root.rglob("_delta_log")):
        table = DeltaTable(str(log.parent)).to_pyarrow_table()
        rows = sorted(json.dumps(r, default=str, sort_keys=True) for r in table.to_pylist())
        found[str(log.parent.relative_to(root))] = (sorted(table.schema.names), rows)
    for path in sorted(root.rglob("*")):
        if path.suffix in (".csv", ".json") and "_delta_log" not in path.parts:
            lines = path.read_text(encoding="utf-8").splitlines()
            if path.suffix == ".json":
                found[str(path.relative_to(root))] = ([], [json.dumps(json.loads("\n".join(
                    lines)), sort_keys=True)])
            else:
                found[str(path.relative_to(root))] = (lines[:1], sorted(lines[1:]))
    return found


def differences(expected: Snapshot, actual: Snapshot) -> list[str]:
    """What differs, one line per table (names, columns, a row or two), for the message."""
    problems = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            problems.append(f"{name}: missing")
        elif name not in expected:
            problems.append(f"{name}: not written by the reference run")
        elif expected[name][0] != actual[name][0]:
            problems.append(f"{name}: columns {actual[name][0]} != {expected[name][0]}")
        elif expected[name][1] != actual[name][1]:
            want, got = set(expected[name][1]), set(actual[name][1])
            problems.append(
                f"{name}: {len(actual[name][1])} rows vs {len(expected[name][1])}; "
                f"only here {sorted(got - want)[:2]}; only in the reference "
                f"{sorted(want - got)[:2]}"
            )
    return problems
