"""Reads a job's outputs without Spark (deltalake, plain files) to compare two engines.

The reader must not be either engine under test: Delta tables are read with the
deltalake (delta-rs) library, CSV and JSON files as text. Rows are compared as a sorted
list, since neither engine promises an order.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

Snapshot = dict[str, tuple[list[str], list[str]]]


def snapshot(root: Path) -> Snapshot:
    """Every Delta table, CSV and JSON file under root: (columns or header, sorted rows)."""
    found: Snapshot = {}
    for log in sorted(root.rglob("_delta_log")):
        table = read_delta(log.parent)
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


def read_delta(path: Path) -> pa.Table:
    """A Delta table's current rows, with deltalake.

    JVM Spark writes timestamps as Parquet INT96, which the deltalake reader turns into
    nanoseconds and then cannot cast a 9999-12-31 (an SCD2 open end) back to the table's
    microseconds; such a table is read here file by file as microseconds instead, with
    the partition values of each file's add action.
    """
    table = DeltaTable(str(path))
    try:
        return table.to_pyarrow_table()
    except pa.ArrowInvalid:
        pass
    schema = pa.schema(table.schema().to_arrow())
    partitions = table.metadata().partition_columns
    pieces = []
    for action in pa.table(table.get_add_actions(flatten=True)).to_pylist():
        piece = pq.read_table(path / unquote(action["path"]), coerce_int96_timestamp_unit="us")
        for column in partitions:
            value = [action[f"partition.{column}"]] * piece.num_rows
            piece = piece.append_column(column, pa.array(value, schema.field(column).type))
        pieces.append(piece.select(schema.names).cast(schema))
    return pa.concat_tables(pieces) if pieces else schema.empty_table()


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
