"""What a step hands its target: `Write`s (frames computed by transforms) and `Mark`s
(etl_controle rows to advance). The targets apply them: pg_target.py on PostgreSQL in
ONE transaction, delta_target.py as one commit per table (MERGE for changes) with the
marks derived from the data or written after it, so a rerun repeats nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, NamedTuple

from pyspark.sql import DataFrame

Mode = Literal["replace", "sync", "sync_ids", "append", "upsert", "newer", "missing",
               "replace_rejects"]
Check = Literal["dims", "facts"]


@dataclass(frozen=True)
class Write:
    """`frame` into `table`: replace (whole table), sync (whole table too, but only the
    rows that differ are deleted or inserted, matched on the table's key), sync_ids
    (sync.id_rows: the rows of the changed ids replace theirs), append,
    upsert (by `_acao` on the table's key), newer (insert or overwrite an older row of
    the same id), missing (insert only new keys), replace_rejects (this run's rejects
    of the frame's tables)."""

    table: str
    frame: DataFrame
    mode: Mode
    # sync and replace_rejects on PostgreSQL: per source table, the only ids whose rows
    # the frame holds (the table's other rows are left as they are); absent: all ids
    scope: Mapping[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Mark:
    """A row of etl_controle: the table's high-water mark (or, with `column`, the
    largest value of that column among the rows the write of `table` loads)."""

    table: str
    high_water_mark: datetime | None = None
    column: str | None = None


class FactInputs(NamedTuple):
    """What the facts step computes from: the movements to (re)compute, their fact rows
    now, and the dimensions they join to (a target may narrow them to those rows)."""

    movements: DataFrame
    existing: DataFrame
    dim_cartao: DataFrame
    dim_conta: DataFrame
    dim_associado: DataFrame


def write_flat(frame: DataFrame, path: Path, delimiter: str, encoding: str) -> int:
    """The flat file, atomically (write_single_file renames it into place); another
    encoding than UTF-8 is written beside it and renamed over it too. Returns its rows."""
    import os

    from esteira.connectors.files import write_single_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if encoding.lower().replace("-", "") == "utf8":
        write_single_file(frame, path, delimiter=delimiter, fmt="csv")
    else:
        utf8 = path.with_name(f".{path.name}.utf8")
        other = path.with_name(f".{path.name}.{encoding}")
        try:
            write_single_file(frame, utf8, delimiter=delimiter, fmt="csv")
            with utf8.open(encoding="utf-8", newline="") as src, other.open(
                    "w", encoding=encoding, errors="replace", newline="") as dst:
                for line in src:
                    dst.write(line)
            os.replace(other, path)
        finally:
            utf8.unlink(missing_ok=True)
            other.unlink(missing_ok=True)
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)
