"""The warehouse on PostgreSQL (the seed's DW database, what its BI tools read).

A step hands the target its `Write`s (frames computed by transforms) and the marks to
advance; `apply` runs them in ONE transaction: bulk load (COPY on Sail, JDBC batches on
the JVM engine), then DELETE/UPDATE/INSERT, the checks, the marks, commit. A failed or
killed run leaves every table as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from psycopg import sql
from pyspark.sql import DataFrame, SparkSession

from esteira.connectors import arrow_stream, postgres_load, staging
from esteira.connectors import postgres as pg
from esteira.errors import EsteiraError
from esteira.warehouse import flat_file, flat_lines, pg_apply, pg_checks, sync
from esteira.warehouse.io import Check, FactInputs, Mark, Write
from esteira.warehouse.pg_sql import (
    FACT_KEYS,
    IDS_LIMIT,
    NARROW_LIMIT,
    SCD2_CANDIDATES,
    between,
    idade_may_differ,
    ids_literal,
)
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


class PostgresTarget:
    name = "postgres"

    def __init__(self, session: SparkSession, dsn: str, schema: str, batch_size: int,
                 flat_parts: int = 1, scratch: Path | None = None,
                 mirror: RawMirror | None = None) -> None:
        self.session, self.dsn, self.schema, self.batch_size = session, dsn, schema, batch_size
        self.flat_parts, self.scratch, self.mirror = flat_parts, scratch, mirror
        self.narrowed: dict[str, int | None] = {}  # ids each dimension's inputs were cut to
        self._run_conn: Any = None  # the run's own connection, while `exclusive` holds it

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
        """Drops every warehouse table (one transaction): the next run is a full load."""
        from esteira.warehouse.schemas import TABLES

        with pg.connect(self.dsn) as conn, conn.transaction():
            for table in (*TABLES, CONTROL, FLAT_PENDING, FACTS_PENDING, TRUSTED_PENDING,
                          DIMS_PENDING):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                    sql.Identifier(self.schema, table)))
        if self.mirror is not None:
            self.mirror.drop()

    def read(self, table: str, where: str | None = None, columns: str = "*") -> DataFrame:
        query = f"SELECT {columns} FROM {self.qualified(table)}" + (
            f" WHERE {where}" if where else "")
        return pg.read_table(self.session, self.dsn, query=query)

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

    def trusted_pending(self, entity: str) -> list[int] | None:
        """The ids of a small table whose raw rows changed since trusted last cleaned it
        (trusted_pendente, noted by the raw step), with those it rejected then (a rule
        may pass now); None when the whole table must be cleaned: never cleaned yet, the
        raw step replaced it, or more than NARROW_LIMIT ids."""
        s = sql.Identifier(self.schema).as_string(None)
        with self._connected() as conn:
            cleaned = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {s}.{CONTROL} WHERE tabela = "
                                   "%s)", (f"trusted_{entity}",)).fetchone()[0]
            noted = _noted(conn, self.schema, TRUSTED_PENDING, entity) if cleaned else None
            if noted is None:
                return None
            rejected = [r[0] for r in conn.execute(
                f"SELECT id::bigint FROM {s}.trusted_rejeitos WHERE tabela = %s "
                "AND id ~ '^-?[0-9]{1,18}$'", (entity,))]
        ids = sorted({*noted, *rejected})
        return None if len(ids) > NARROW_LIMIT else ids

    def idade_candidates(self, load_date: date) -> DataFrame:
        """trusted_associado's rows whose idade may have turned by `load_date`: a superset
        (the engine decides, transforms.idade_turned) of those whose idade by
        PostgreSQL's age() is not the kept one, or whose birthday is within three days
        of it (where Spark's months_between and age() may disagree: the ends of months,
        29 February); a few hundred of 100,000 rows read instead of all of them."""
        return self.read("trusted_associado", idade_may_differ(load_date))

    def raw_rows(self, entity: str, ids: list[int] | None) -> DataFrame:
        """raw_<entity>: whole, or the rows of `ids` and those without an id."""
        if ids is None:
            return self.read(f"raw_{entity}")
        return self.read(f"raw_{entity}", f"id IS NULL OR id = ANY({ids_literal(ids)})")

    def raw_movements(self, after: datetime | None, upto: datetime | None) -> DataFrame:
        return self.read("raw_movimento", between("ingerido_em", after, upto))

    def fact_inputs(self, after: datetime | None, upto: datetime | None) -> FactInputs:
        """Trusted movements loaded in (after, upto]; those of associados whose versions
        moved (fato_pendente, filled by the dims step: from when on), which may now
        belong to another version; those whose fact still has an unknown member (the
        card or associado may have arrived); the fact rows those movements have now; and
        only the dimension rows they can join to (their cards, those cards' accounts
        and associados' versions). The load's movements are chosen by carregado_em (B-tree),
        the few others by id (a literal of every id made each read 1.4 s instead of
        0.5 s for 88,000 movements)."""
        if after is None:  # the first load: every movement, no fact to compare with yet
            return FactInputs(self.read("trusted_movimento", between("carregado_em", None, upto)),
                              self.read("fato_movimentacao_cartao"), *self._dims())
        s = sql.Identifier(self.schema).as_string(None)
        others = (f"SELECT id_movimento FROM {s}.fato_movimentacao_cartao "
                  "WHERE sk_cartao < 0 OR sk_associado < 0 OR sk_conta < 0")
        # the movements already in the facts whose associado's versions moved (the new
        # ones are in the range): by their facts, from the earliest day a version moved
        # (two days before it in UTC: any zone's day is later), through the BRIN on
        # sk_data where the facts lie in day order
        moved = (f"SELECT f.id_movimento FROM {s}.fato_movimentacao_cartao f JOIN "
                 f"{s}.dim_cartao c ON c.sk_cartao = f.sk_cartao JOIN {s}.{FACTS_PENDING} p "
                 "ON p.id_associado = c.id_associado WHERE f.data_movimento >= p.desde AND "
                 f"f.sk_data >= (SELECT CASE WHEN isfinite(min(desde)) THEN to_char(min(desde) "
                 "AT TIME ZONE 'UTC' - interval '2 days', 'YYYYMMDD')::integer ELSE 0 END "
                 f"FROM {s}.{FACTS_PENDING})")
        with self._connected() as conn:
            if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {s}.{FACTS_PENDING})").fetchone()[0]:
                others += f" UNION {moved}"
            ids = [r[0] for r in conn.execute(others)]
            by_id = f"IN ({others})" if len(ids) > IDS_LIMIT else f"= ANY({ids_literal(ids)})"
            chosen = f"({between('carregado_em', after, upto)}) OR id {by_id}"
            dims = self._dims(conn, chosen)
        return FactInputs(self.read("trusted_movimento", chosen),
                          self.read("fato_movimentacao_cartao", "id_movimento IN (SELECT id "
                                    f"FROM {s}.trusted_movimento WHERE {chosen})"),
                          *dims)

    def _dims(self, conn: Any = None, chosen: str | None = None) -> tuple[DataFrame, ...]:
        """dim_cartao, dim_conta, dim_associado: whole, or (with a connection) the rows
        the trusted movements `WHERE {chosen}` join to; only the columns the facts take
        (FACT_KEYS: the names and e-mails stay in the database)."""
        tables = ("dim_cartao", "dim_conta", "dim_associado")
        if chosen is None:
            return tuple(self.read(t, None, FACT_KEYS[t]) for t in tables)
        s = sql.Identifier(self.schema).as_string(None)
        ids = conn.execute(
            "SELECT array_agg(DISTINCT c.id_cartao), array_agg(DISTINCT c.id_conta), "
            f"array_agg(DISTINCT c.id_associado) FROM {s}.dim_cartao c WHERE c.id_cartao IN "
            f"(SELECT id_cartao FROM {s}.trusted_movimento WHERE {chosen})").fetchone()
        return tuple(self.read(t, f"{key} = ANY({ids_literal(found or [])})", FACT_KEYS[t])
                     for t, key, found in zip(tables, ("id_cartao", "id_conta", "id_associado"),
                                              ids, strict=True))

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

    def scd2_inputs(self, unknown: int) -> tuple[DataFrame, DataFrame, int | None]:
        """dim_associado's versions and trusted_associado's events of only the associados
        whose versions may change (`SCD2_CANDIDATES`, a superset), with the largest
        surrogate key; the whole tables on a first load."""
        return self._narrowed("associado", SCD2_CANDIDATES, unknown)

    def type1_inputs(self, entity: str, attrs: list[str],
                     unknown: int) -> tuple[DataFrame, DataFrame, int | None]:
        """As scd2_inputs for dim_conta / dim_cartao: the trusted rows new to the
        dimension or with other values, and their dimension rows."""
        candidates = sql.SQL(
            "SELECT t.id FROM {t} t LEFT JOIN {d} d ON d.{key} = t.id "
            "WHERE d.{sk} IS NULL OR ROW({tv}) IS DISTINCT FROM ROW({dv})").format(
            t=sql.Identifier(self.schema, f"trusted_{entity}"),
            d=sql.Identifier(self.schema, f"dim_{entity}"),
            key=sql.Identifier(f"id_{entity}"), sk=sql.Identifier(f"sk_{entity}"),
            tv=sql.SQL(", ").join(sql.SQL("t.") + sql.Identifier(a) for a in attrs),
            dv=sql.SQL(", ").join(sql.SQL("d.") + sql.Identifier(a) for a in attrs))
        return self._narrowed(entity, candidates, unknown)

    def _narrowed(self, entity: str, candidates: sql.Composable | str,
                  unknown: int) -> tuple[DataFrame, DataFrame, int | None]:
        dim, trusted = f"dim_{entity}", f"trusted_{entity}"
        key, sk = f"id_{entity}", f"sk_{entity}"
        if isinstance(candidates, str):
            candidates = sql.SQL(candidates).format(
                t=sql.Identifier(self.schema, trusted), d=sql.Identifier(self.schema, dim),
                unknown=sql.Literal(unknown))
        with self._connected() as conn:
            known, top = conn.execute(sql.SQL("SELECT count(*), max({}) FROM {} WHERE {} <> %s")
                                      .format(sql.Identifier(sk), sql.Identifier(self.schema, dim),
                                              sql.Identifier(sk)), (unknown,)).fetchone()
            # the ids the trusted step changed since (a superset of those whose rows may
            # change: the dimension matched trusted for every other id when dims last
            # ran); when it noted the whole table, the candidates' query over both
            noted = _noted(conn, self.schema, DIMS_PENDING, entity) if known else None
            ids = noted if noted is not None else (
                [r[0] for r in conn.execute(candidates)] if known else [])
        if not known or len(ids) > NARROW_LIMIT:  # first load, or most rows may change
            self.narrowed[entity] = None
            return self.read(dim), self.read(trusted), None
        self.narrowed[entity] = len(ids)
        chosen = ids_literal(ids)
        return (self.read(dim, f"{key} = ANY({chosen})"),
                self.read(trusted, f"id = ANY({chosen})"), top or 0)

    def day_span(self, timezone: str, since: datetime | None = None) -> tuple[Any, Any]:
        """First and last local day of the trusted movements loaded after `since` (all
        without it), widened to dim_data's own span; (None, None) with neither.

        Only the movements within a day of the first and last instants are converted to
        local days (a zone's offset moves by less than a day, so no other can be
        earlier or later): 5M movements 2.7-3.7 s converted whole, 1.2 s so (two scans)."""
        t = sql.Identifier(self.schema, "trusted_movimento")
        where = sql.SQL(between("carregado_em", since, None))
        d = sql.Identifier(self.schema, "dim_data")
        with self._connected() as conn:
            lo, hi = conn.execute(sql.SQL(
                "SELECT min(data_movimento), max(data_movimento) FROM {t} WHERE {w}"
            ).format(t=t, w=where)).fetchone()
            return conn.execute(sql.SQL(
                "SELECT least(min(day), (SELECT min(data) FROM {d})), "
                "greatest(max(day), (SELECT max(data) FROM {d})) FROM "
                "(SELECT (data_movimento AT TIME ZONE %(tz)s)::date AS day FROM {t} "
                "WHERE {w} AND (data_movimento < %(lo)s::timestamptz + interval '1 day' "
                "OR data_movimento > %(hi)s::timestamptz - interval '1 day')) m"
            ).format(t=t, w=where, d=d), {"tz": timezone, "lo": lo, "hi": hi}).fetchone()

    def check_fact_total(self, changes: DataFrame, inserts: int) -> None:
        """Checked inside the transaction instead (see _check_facts)."""

    def apply(self, writes: list[Write], marks: list[Mark], load_ts: datetime,
              check: Check | None = None) -> dict[str, int]:
        """Every write, the checks and the marks in one transaction; rows written per
        table."""

        def work(conn: Any, loaded: dict[str, Any]) -> dict[str, int]:
            written = {w.table: pg_apply.apply_write(conn, self.schema, w, loaded[w.table])
                       for w in writes}
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
        writes = [self._by_ids(w, kept) for w in writes]
        frames = {w.table: w.frame for w in writes}
        written = postgres_load.load_and_apply(self.dsn, frames, work, schema=self.schema,
                                               batch_size=self.batch_size, scratch=self.scratch)
        marked = {m.table for m in marks}
        for table, files, schema in kept:  # committed: their copies for the next run
            if self.mirror is not None and table in marked:
                self.mirror.keep(table, files, load_ts, schema)
        return written


    def _by_ids(self, w: Write, kept: list[tuple[str, Path, Any]]) -> Write:
        """A raw small table's whole sync (its source staged) as the changed ids' rows: the
        engine compares the source with the table as the last run left it (its copy,
        raw_mirror.py, else the table read back; no other run writes it meanwhile:
        `exclusive`) and only the changed ids' rows travel, where COPYing all 100,000
        rows and comparing them with two anti-joins took PostgreSQL about 0.6 s a
        table. Notes in `kept` the copy to keep once committed."""
        files = staging.parquet_copy(w.frame)
        if (self.mirror is None or files is None or w.mode != "sync" or w.scope
                or not w.table.startswith("raw_")):
            return w
        schema = w.frame.schema
        loaded = self.marks().get(w.table, {}).get("ultima_carga")
        previous = self.mirror.previous(w.table, loaded, schema)
        if previous is None:
            previous = self.read(w.table)
        ids = [r["_id"] for r in sync.changed_ids(w.frame, previous, ("ingerido_em",)).collect()]
        if len(ids) > NARROW_LIMIT:  # most of the table: PostgreSQL compares it whole
            return w
        kept.append((w.table, files, schema))
        return Write(w.table, sync.id_rows(self.session, w.frame, ids), "sync_ids")


def _noted(conn: Any, schema: str, notes: str, entity: str) -> list[int] | None:
    """The ids noted in `notes` (trusted_pendente, dims_pendente) for `entity`; None
    when the whole table is noted or more than NARROW_LIMIT ids are."""
    found = conn.execute(sql.SQL(
        "SELECT bool_or(id IS NULL), array_agg(DISTINCT id) FILTER (WHERE id IS NOT NULL) "
        "FROM {} WHERE tabela = %s").format(sql.Identifier(schema, notes)), (entity,)).fetchone()
    whole, ids = found[0], found[1] or []
    return None if whole or len(ids) > NARROW_LIMIT else ids
