"""Frames loaded into PostgreSQL and applied in ONE transaction (`load_and_apply`, the
warehouse's steps): JVM Spark's JDBC writer into side tables, or Sail's COPY inside the
transaction, into a temporary table or straight into a target (`Loaded`); and a
table's indexes rebuilt around a bulk fill (`indexes_rebuilt`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import to_arrow_schema

from esteira.connectors import arrow_stream
from esteira.connectors.postgres import NO_JDBC, connect, describe, jdbc_options
from esteira.connectors.postgres_write import (
    copy_arrow,
    copy_batches,
    drop_quietly,
    frame_columns,
)
from esteira.errors import EsteiraError, ServiceError

T = TypeVar("T")


def load_and_apply(
    dsn: str,
    frames: Mapping[str, DataFrame],
    apply: Callable[[psycopg.Connection, Mapping[str, Loaded]], T],
    *,
    schema: str,
    batch_size: int = 10_000,
    scratch: Path | None = None,
) -> T:
    """Loads each frame in bulk, then runs `apply(conn, loaded)` in ONE transaction
    with them (`loaded`: name -> `Loaded`), and commits: a failure anywhere leaves every
    target table as it was.

    JVM Spark writes each frame with its JDBC writer (batches of `batch_size`, rewritten
    into multi-row INSERTs) into a side table in `schema`, dropped in the same
    transaction; Sail has no JDBC writer, so its frames go by COPY (binary from Arrow,
    see postgres_write.copy_arrow) inside the transaction, into a temporary table when
    `apply` selects from them, or straight into a target (`Loaded.into`). Timestamps
    travel as ISO text with their zone (JDBC) or as instants (binary COPY) and are cast
    back by `apply`'s SQL (see `column_types`), so neither driver's time-zone handling
    can shift them. Errors name the tables, never a value. `scratch`: a folder where
    the engine writes files this process can read (the embedded Sail server's): Sail's
    frames come through Parquet copies there (arrow_stream.through_parquet), not over
    Spark Connect.
    """
    sides: dict[str, str] = {}
    copies: dict[str, DataFrame] = {}
    try:
        for name, frame in frames.items():
            side = f"{schema}._esteira_{uuid.uuid4().hex[:8]}_{name}"[:63]
            if _jdbc_write(frame, dsn, side, batch_size):
                sides[name] = side
            else:
                copies[name] = frame
        with _prefetched(copies, scratch) as coming, connect(dsn) as conn, conn.transaction():
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            loaded = {n: Loaded(conn, n, side=sql.Identifier(*s.split(".")))
                      for n, s in sides.items()}
            loaded.update({n: Loaded(conn, n, frame=f, scratch=scratch, coming=coming.get(n))
                           for n, f in copies.items()})
            result = apply(conn, loaded)
            for side in sides.values():
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(*side.split("."))))
        return result
    except EsteiraError:
        _drop_all_quietly(dsn, sides.values())
        raise
    except Exception as exc:  # a driver's text can quote row values: the class name only
        _drop_all_quietly(dsn, sides.values())
        raise ServiceError(
            f"loading {', '.join(frames) or 'changes'} into PostgreSQL {describe(dsn)} failed "
            f"({exc.__class__.__name__}); every table was left as it was"
        ) from None


class Loaded:
    """One frame's rows inside load_and_apply's transaction: `table` to select from (the
    JVM engine's side table; on Sail a temporary table, COPYed on first use), or `into`
    a target directly (Sail: one COPY, no table in between)."""

    def __init__(self, conn: psycopg.Connection, name: str, *, side: Any = None,
                 frame: DataFrame | None = None, scratch: Path | None = None,
                 coming: Future | None = None) -> None:
        self.conn, self.name, self._table, self.frame = conn, name, side, frame
        self.scratch = scratch  # the engine's Parquet copies go there (through_parquet)
        self._coming = coming  # the same, already asked for (_prefetched)
        self._arrow: Any = None
        self.landed: Any = None  # the table they went into whole, when the caller says so
        self.rows_after: int | None = None  # the target's rows after them, when known
        self.every_row = False  # the caller wrote every row as given (none left out)

    @property
    def table(self) -> sql.Composable:
        if self._table is None:
            temp = f"_esteira_{self.name}"
            _copy_into_temp(self.conn, self.frame, temp, self._rows())
            self._table = sql.Identifier(temp)
        return self._table

    def into(self, target: str, types: Mapping[str, str], only: tuple[str, str] | None = None,
             freeze: bool = False, order: tuple[str, ...] = ()) -> int:
        """Appends the rows' columns named in `types` (column -> PostgreSQL type) to
        `target` (schema.name); `only` (column, value) keeps the rows with that value;
        `freeze`: COPY FREEZE (see copy_arrow; Sail's rows only). `order`: Sail's rows
        sorted on the way (by the engine when streamed, here when read from its Parquet
        copy), so they lie in that order on disk (the JVM engine's side table goes in as
        it is: sorting it would be PostgreSQL's work).
        Returns the rows added."""
        if self._table is not None or self.frame is None:  # already a table: one INSERT
            names = sql.SQL(", ").join(sql.Identifier(c) for c in types)
            casts = sql.SQL(", ").join(sql.SQL("s.{}::{}").format(sql.Identifier(c), sql.SQL(t))
                                       for c, t in types.items())
            where = sql.SQL(" WHERE s.{} = {}").format(
                sql.Identifier(only[0]), sql.Literal(only[1])) if only else sql.SQL("")
            return self.conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} s{}").format(
                sql.Identifier(*target.split(".")), names, casts, self.table, where)).rowcount
        import pyarrow as pa
        import pyarrow.compute as pc

        if self._arrow is None and self.scratch is not None:  # the engine's files
            self._rows()
        if self._arrow is not None:
            data = self._arrow
            if only:
                data = data.filter(pc.equal(data[only[0]], only[1]))
            return copy_arrow(self.conn, target, data, list(types), freeze, order)
        schema, kept = to_arrow_schema(self.frame.schema), []
        frame = self.frame.orderBy(*order) if order else self.frame

        def arriving() -> Iterator[Any]:  # COPYed while the engine sends the rest
            for sent in arrow_stream.batches(frame):
                batch = sent.cast(schema)
                kept.append(batch)  # for `largest` and `table` after
                yield batch.filter(pc.equal(batch[only[0]], only[1])) if only else batch

        added = copy_batches(self.conn, target, schema, arriving(), list(types), freeze)
        self._arrow = pa.Table.from_batches(kept, schema=schema)
        return added

    @property
    def arrow(self) -> Any:
        """The rows as Arrow (the engine's own, as COPYed) once loaded on Sail; else None."""
        return self._arrow

    def largest(self, column: str, pg_type: str) -> Any:
        """The column's largest value (None without rows), without a table on Sail."""
        if self.frame is not None and self._table is None:
            import pyarrow.compute as pc

            return pc.max(self._rows()[column]).as_py()
        return self.conn.execute(sql.SQL("SELECT max({}::{}) FROM {}").format(
            sql.Identifier(column), sql.SQL(pg_type), self.table)).fetchone()[0]

    def _rows(self) -> Any:
        if self._arrow is None and self._coming is not None:
            self._arrow = self._coming.result()
        if self._arrow is None:
            self._arrow = (self.frame.toArrow() if self.scratch is None
                           else arrow_stream.through_parquet(self.frame, self.scratch))
        return self._arrow


@contextmanager
def _prefetched(frames: Mapping[str, DataFrame],
                scratch: Path | None) -> Iterator[dict[str, Future]]:
    """Sail's frames asked for at once (through_parquet, two at a time), so the engine
    computes the next ones while PostgreSQL applies the first (a warehouse incremental
    run, medians of four: 16.9 s against 19.9 s); without `scratch`, nothing. On the
    way out, the frames not started are cancelled and the running ones waited for."""
    if scratch is None or not frames:
        yield {}
        return
    with ThreadPoolExecutor(2, thread_name_prefix="esteira-prefetch") as pool:
        coming = {n: pool.submit(arrow_stream.through_parquet, f, scratch)
                  for n, f in frames.items()}
        try:
            yield coming
        finally:
            for future in coming.values():
                future.cancel()


@contextmanager
def indexes_rebuilt(conn: psycopg.Connection, table: str) -> Iterator[None]:
    """Drops `table`'s indexes (primary key and unique constraints included) for the
    block and builds them again after it, in the caller's transaction: PostgreSQL's own
    advice for filling a table in bulk (one sort per index instead of an insert into
    each per row). A duplicate key still fails, when its index is built."""
    name = sql.Identifier(*table.split("."))
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')", (table,)).fetchall()
    indexes = conn.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
        "WHERE indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = i.indexrelid)", (table,)).fetchall()
    for constraint, _ in constraints:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            name, sql.Identifier(constraint)))
    for index, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index)))
    yield
    for constraint, definition in constraints:
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            name, sql.Identifier(constraint), sql.SQL(definition)))
    for _, definition in indexes:
        conn.execute(definition)


_NO_JDBC_WRITER: set[int] = set()  # sessions (by id) whose engine has no JDBC writer


def _jdbc_write(frame: DataFrame, dsn: str, side: str, batch_size: int) -> bool:
    """True when the JDBC writer wrote the side table (timestamps as zoned text);
    False when the engine has none."""
    options = jdbc_options(
        dsn, side, batchsize=str(batch_size), reWriteBatchedInserts="true"
    )
    session = id(frame.sparkSession)
    if session in _NO_JDBC_WRITER:  # known already: skip the attempt (it plans the frame)
        return False
    try:
        _zoned_text(frame).write.format("jdbc").options(**options).mode("overwrite").save()
        return True
    except Exception as exc:
        if any(sign in str(exc) for sign in (NO_JDBC, "writer is not implemented")):
            _NO_JDBC_WRITER.add(session)
            return False
        drop_quietly(dsn, side)
        raise ServiceError(
            f"bulk load of {side.rpartition('.')[2]} into PostgreSQL {describe(dsn)} failed "
            f"({exc.__class__.__name__}); nothing was applied"
        ) from None


def _zoned_text(frame: DataFrame) -> DataFrame:
    """Timestamps as ISO text with their zone (the session's is UTC): 2024-01-02
    06:04:05.000000Z; other columns as they are."""
    from pyspark.sql import functions as F

    columns = []
    for field in frame.schema.fields:
        if field.dataType.simpleString() == "timestamp":
            text = F.date_format(F.col(field.name), "yyyy-MM-dd HH:mm:ss.SSSSSSXXX")
            columns.append(text.alias(field.name))
        else:
            columns.append(F.col(field.name))
    return frame.select(*columns)


def _copy_into_temp(conn: psycopg.Connection, frame: DataFrame, temp: str, data: Any) -> None:
    """CREATE TEMP TABLE (dropped at commit, typed from the frame) + COPY of its rows
    (`data`, as Arrow; binary, see copy_arrow)."""
    columns = frame_columns(frame, temp)
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
            sql.Identifier(temp), sql.SQL(", ").join(columns)
        )
    )
    copy_arrow(conn, temp, data)


def _drop_all_quietly(dsn: str, sides: Iterable[str]) -> None:
    for side in sides:
        drop_quietly(dsn, side)
