"""The warehouse on PostgreSQL (the seed's DW database, what its BI tools read).

A step hands the target its `Write`s (frames computed by transforms) and the marks to
advance; `apply` runs them in ONE transaction: bulk load (COPY on Sail, JDBC batches on
the JVM engine), then DELETE/UPDATE/INSERT, the checks, the marks, commit. A failed or
killed run leaves every table as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg import sql
from pyspark.sql import DataFrame, SparkSession

from esteira.connectors import arrow_stream, postgres_load, staging
from esteira.connectors import postgres as pg
from esteira.errors import EsteiraError
from esteira.warehouse import flat_file, flat_lines, pg_apply, pg_checks, sync
from esteira.warehouse.io import Check, Mark, Write
from esteira.warehouse.pg_inputs import PostgresInputs
from esteira.warehouse.pg_sql import NARROW_LIMIT
from esteira.warehouse.raw_mirror import RawMirror
from esteira.warehouse.schemas import (
    CONTROL,
    DDL,
    DIMS_PENDING,
    FACTS_PENDING,
    FLAT_PENDING,
    SMALL_TABLES,
    TRUSTED_PENDING,
    UNKNOWN_MEMBERS,
)

LOCK_NAMESPACE = "esteira.warehouse"  # the advisory lock's first key (hashed); the schema: 2nd


class PostgresTarget(PostgresInputs):
    name = "postgres"

    def __init__(self, session: SparkSession, dsn: str, schema: str, batch_size: int,
                 flat_parts: int = 1, scratch: Path | None = None,
                 mirror: RawMirror | None = None) -> None:
        self.session, self.dsn, self.schema, self.batch_size = session, dsn, schema, batch_size
        self.flat_parts, self.scratch, self.mirror = flat_parts, scratch, mirror
        self.narrowed: dict[str, int | None] = {}  # ids each dimension's inputs were cut to
        self._run_conn: Any = None  # the run's own connection, while `exclusive` holds it
        self._declared: dict[str, dict[str, str]] = {}  # table -> column -> declared type
        self._every_row: dict[str, bool] = {}  # table -> the last apply wrote all its rows

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One run at a time per warehouse: the run's connection holds a session
        advisory lock on the schema (released by PostgreSQL when the connection ends,
        however the run does); another run fails at once, naming the warehouse. The
        target's reads go through that connection meanwhile (a connection costs about
        12 ms: 16 of them a run)."""
        with pg.connect(self.dsn, autocommit=True) as conn:
            if not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))",
                                (LOCK_NAMESPACE, self.schema)).fetchone()[0]:
                raise EsteiraError(
                    f"another warehouse run is loading schema {self.schema} on PostgreSQL "
                    f"{pg.describe(self.dsn)}; run again when it ends")
            self._run_conn = conn
            try:
                yield
            finally:
                self._run_conn = None

    @contextmanager
    def _connected(self) -> Iterator[Any]:
        """The run's connection (autocommit) while `exclusive` holds it, else a new one."""
        if self._run_conn is not None:
            yield self._run_conn
        else:
            with pg.connect(self.dsn) as conn:
                yield conn

    def qualified(self, table: str) -> str:
        return f"{self.schema}.{table}"

    def prepare(self, unknown: int, open_end: datetime, first_from: datetime) -> None:
        """Tables, indexes and unknown members, created when missing (idempotent)."""
        self._declared.clear()
        with pg.connect(self.dsn) as conn, conn.transaction():
            ident = sql.Identifier(self.schema).as_string(conn)
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident}")
            unnoted = [n for n in (TRUSTED_PENDING, DIMS_PENDING) if conn.execute(
                "SELECT to_regclass(%s)", (self.qualified(n),)).fetchone()[0] is None]
            for statement in DDL:
                conn.execute(statement.replace("{s}", ident))
            for notes in unnoted:  # a warehouse older than the notes: the whole tables once
                conn.execute(f"INSERT INTO {ident}.{notes} SELECT unnest(%s::text[]), NULL",
                             (list(SMALL_TABLES),))
            for statement in UNKNOWN_MEMBERS:
                conn.execute(statement.replace("{s}", ident),
                             {"k": unknown, "end": open_end, "from": first_from})
            # side tables of a run killed before it could drop them (engine spark)
            for (left,) in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                    "AND table_name LIKE '\\_esteira\\_%%'", (self.schema,)).fetchall():
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                    sql.Identifier(self.schema, left)))

    def reset(self) -> None:
        """Drops every warehouse table (one transaction; not while a run holds the
        warehouse): the next run is a full load."""
        from esteira.warehouse.schemas import TABLES

        with self.exclusive(), pg.connect(self.dsn) as conn, conn.transaction():
            for table in (*TABLES, CONTROL, FLAT_PENDING, FACTS_PENDING, TRUSTED_PENDING,
                          DIMS_PENDING):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                    sql.Identifier(self.schema, table)))
        if self.mirror is not None:
            self.mirror.drop()

    def read(self, table: str, where: str | None = None, columns: str = "*") -> DataFrame:
        query = f"SELECT {columns} FROM {self.qualified(table)}" + (
            f" WHERE {where}" if where else "")
        return pg.read_table(self.session, self.dsn, query=query,
                             types=self._types(table, columns))

    def _types(self, table: str, columns: str) -> dict[str, str] | None:
        """The declared types of `columns` ("*" or plain names) of a warehouse table, from
        the catalog once per run (only `prepare` changes the tables, before any read);
        None for anything else."""
        if table not in self._declared:
            with self._connected() as conn:
                self._declared[table] = pg.column_types(conn, self.qualified(table))
        declared = self._declared[table]
        names = list(declared) if columns.strip() == "*" else [
            c.strip() for c in columns.split(",")]
        return {n: declared[n] for n in names} if declared and all(
            n in declared for n in names) else None

    def marks(self) -> dict[str, dict[str, Any]]:
        with self._connected() as conn:
            if not conn.execute("SELECT to_regclass(%s)", (self.qualified(CONTROL),)).fetchone()[0]:
                return {}
            rows = conn.execute(sql.SQL(
                "SELECT tabela, high_water_mark, ultima_carga, linhas FROM {}").format(
                sql.Identifier(self.schema, CONTROL))).fetchall()
        return {r[0]: {"high_water_mark": r[1], "ultima_carga": r[2], "linhas": r[3]}
                for r in rows}

    def counts(self, tables: list[str]) -> dict[str, int | None]:
        found: dict[str, int | None] = {}
        with self._connected() as conn:
            for table in tables:
                if conn.execute("SELECT to_regclass(%s)", (self.qualified(table),)).fetchone()[0]:
                    found[table] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                        sql.Identifier(self.schema, table))).fetchone()[0]
                else:
                    found[table] = None
        return found

    def latest(self, table: str, column: str) -> datetime | None:
        with self._connected() as conn:
            return conn.execute(sql.SQL("SELECT max({}) FROM {}").format(
                sql.Identifier(column), sql.Identifier(self.schema, table))).fetchone()[0]

    def write_flat(self, path: Path, delimiter: str, encoding: str, timezone: str,
                   facts: DataFrame | None = None) -> int:
        """movimento_flat.csv from the warehouse: only the days whose rows changed are
        rendered again (flat_file.py). `facts`: every fact in the table, as this run
        loaded them: when the whole file is needed, the embedded engine makes its lines
        from them and the dimensions (flat_lines.py; 5M rows: PostgreSQL renders on
        one core per connection). Returns the file's rows."""
        lines = None
        if facts is not None and self.scratch is not None:
            def lines() -> Any:
                made = flat_lines.flat_lines(
                    facts, self.read("dim_associado"), self.read("dim_cartao"),
                    self.read("dim_conta"), timezone, delimiter)
                return arrow_stream.through_parquet(made, self.scratch)
        rows, self.flat_rendered = flat_file.write(
            self.dsn, self.schema, path, delimiter, encoding, timezone, self.flat_parts, lines)
        return rows

    def wrote_every_row(self, table: str) -> bool:
        """True when the last `apply` wrote every row of `table`'s frame as given (none
        left out as older than the table's): the table's rows of that load are the
        frame's, and the next step may take the frame instead of reading them back."""
        return self._every_row.get(table, False)

    def check_fact_total(self, changes: DataFrame, inserts: int) -> None:
        """Checked inside the transaction instead (see _check_facts)."""

    def apply(self, writes: list[Write], marks: list[Mark], load_ts: datetime,
              check: Check | None = None) -> dict[str, int]:
        """Every write, the checks and the marks in one transaction; rows written per
        table."""

        def work(conn: Any, loaded: dict[str, Any]) -> dict[str, int]:
            written = {w.table: pg_apply.apply_write(conn, self.schema, w, loaded[w.table])
                       for w in writes}
            every_row.update({t: rows.every_row for t, rows in loaded.items()})
            if check is not None:
                pg_checks.CHECKS[check](conn, self.schema, loaded)
            if check == "dims":  # the dimensions match trusted now
                conn.execute(sql.SQL("DELETE FROM {}").format(
                    sql.Identifier(self.schema, DIMS_PENDING)))
            if check == "facts":  # the moved versions are in the facts now
                conn.execute(sql.SQL("DELETE FROM {}").format(
                    sql.Identifier(self.schema, FACTS_PENDING)))
            for m in marks:
                pg_apply.set_mark(conn, self.schema, m, load_ts, loaded)
            return written

        kept: list[tuple[str, Path, Any]] = []
        every_row: dict[str, bool] = {}  # said only once committed
        self._every_row = {}
        writes = self._by_ids(writes, kept)
        frames = {w.table: w.frame for w in writes}
        written = postgres_load.load_and_apply(self.dsn, frames, work, schema=self.schema,
                                               batch_size=self.batch_size, scratch=self.scratch)
        self._every_row = every_row
        marked = {m.table for m in marks}
        for table, files, schema in kept:  # committed: their copies for the next run
            if self.mirror is not None and table in marked:
                self.mirror.keep(table, files, load_ts, schema)
        return written


    def _by_ids(self, writes: list[Write], kept: list[tuple[str, Path, Any]]) -> list[Write]:
        """Each raw small table's whole sync (its source staged) as the changed ids' rows:
        the engine compares the source with the table as the last run left it (its
        copy, raw_mirror.py, else the table read back; no other run writes it meanwhile:
        `exclusive`), two tables at a time, and only those ids' rows travel, where
        COPYing all 100,000 rows and comparing them with two anti-joins took PostgreSQL
        about 0.6 s a table. A first load, or more than NARROW_LIMIT ids, stays a sync.
        Notes in `kept` each staged copy to keep once committed (the table is then
        exactly that frame)."""
        loaded = {t: m.get("ultima_carga") for t, m in self.marks().items()}
        compared: dict[int, DataFrame] = {}
        for i, w in enumerate(writes):
            files = staging.parquet_copy(w.frame)
            if (self.mirror is None or files is None or w.mode != "sync" or w.scope
                    or not w.table.startswith("raw_")):
                continue
            kept.append((w.table, files, w.frame.schema))
            if loaded.get(w.table) is None:  # never loaded: nothing to compare with
                continue
            previous = self.mirror.previous(w.table, loaded[w.table], w.frame.schema)
            if previous is None:
                previous = self.read(w.table)
            compared[i] = sync.changed_ids(w.frame, previous, ("ingerido_em",)).limit(
                NARROW_LIMIT + 1)
        with ThreadPoolExecutor(2, thread_name_prefix="esteira-compare") as pool:
            found = dict(zip(compared, pool.map(lambda f: [r["_id"] for r in f.collect()],
                                                compared.values()), strict=True))
        for table, _, _ in kept:  # compared: gone until the commit has made the new one true
            self.mirror.forget(table)  # (a run killed in between finds none, not an old one)
        return [Write(w.table, sync.id_rows(self.session, w.frame, found[i]), "sync_ids")
                if i in found and len(found[i]) <= NARROW_LIMIT else w
                for i, w in enumerate(writes)]
