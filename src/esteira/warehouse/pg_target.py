"""The warehouse on PostgreSQL (the seed's DW database, what its BI tools read).

A step hands the target its `Write`s (frames computed by transforms) and the marks to
advance; `apply` runs them in ONE transaction: bulk load (COPY on Sail, JDBC batches on
the JVM engine), then DELETE/UPDATE/INSERT, the checks, the marks, commit. A failed or
killed run leaves every table as it was.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg import sql
from pyspark.sql import DataFrame, SparkSession

from esteira.connectors import arrow_stream, postgres_load
from esteira.connectors import postgres as pg
from esteira.warehouse import flat_file, flat_lines, pg_apply, pg_checks
from esteira.warehouse.io import Check, FactInputs, Mark, Write
from esteira.warehouse.pg_sql import (
    IDS_LIMIT,
    NARROW_LIMIT,
    SCD2_CANDIDATES,
    between,
    ids_literal,
)
from esteira.warehouse.schemas import (
    CONTROL,
    DDL,
    FACTS_PENDING,
    FLAT_PENDING,
    SMALL_TABLES,
    TRUSTED_PENDING,
    UNKNOWN_MEMBERS,
)


class PostgresTarget:
    name = "postgres"

    def __init__(self, session: SparkSession, dsn: str, schema: str, batch_size: int,
                 flat_parts: int = 1, scratch: Path | None = None) -> None:
        self.session, self.dsn, self.schema, self.batch_size = session, dsn, schema, batch_size
        self.flat_parts, self.scratch = flat_parts, scratch

    def qualified(self, table: str) -> str:
        return f"{self.schema}.{table}"

    def prepare(self, unknown: int, open_end: datetime, first_from: datetime) -> None:
        """Tables, indexes and unknown members, created when missing (idempotent)."""
        with pg.connect(self.dsn) as conn, conn.transaction():
            ident = sql.Identifier(self.schema).as_string(conn)
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident}")
            noted = conn.execute("SELECT to_regclass(%s)",
                                 (self.qualified(TRUSTED_PENDING),)).fetchone()[0]
            for statement in DDL:
                conn.execute(statement.replace("{s}", ident))
            if noted is None:  # a warehouse older than the notes: trusted cleans all once
                conn.execute(f"INSERT INTO {ident}.{TRUSTED_PENDING} "
                             "SELECT unnest(%s::text[]), NULL", (list(SMALL_TABLES),))
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
            for table in (*TABLES, CONTROL, FLAT_PENDING, FACTS_PENDING, TRUSTED_PENDING):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                    sql.Identifier(self.schema, table)))

    def read(self, table: str, where: str | None = None) -> DataFrame:
        query = f"SELECT * FROM {self.qualified(table)}" + (f" WHERE {where}" if where else "")
        return pg.read_table(self.session, self.dsn, query=query)

    def marks(self) -> dict[str, dict[str, Any]]:
        with pg.connect(self.dsn) as conn:
            if not conn.execute("SELECT to_regclass(%s)", (self.qualified(CONTROL),)).fetchone()[0]:
                return {}
            rows = conn.execute(sql.SQL(
                "SELECT tabela, high_water_mark, ultima_carga, linhas FROM {}").format(
                sql.Identifier(self.schema, CONTROL))).fetchall()
        return {r[0]: {"high_water_mark": r[1], "ultima_carga": r[2], "linhas": r[3]}
                for r in rows}

    def counts(self, tables: list[str]) -> dict[str, int | None]:
        found: dict[str, int | None] = {}
        with pg.connect(self.dsn) as conn:
            for table in tables:
                if conn.execute("SELECT to_regclass(%s)", (self.qualified(table),)).fetchone()[0]:
                    found[table] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                        sql.Identifier(self.schema, table))).fetchone()[0]
                else:
                    found[table] = None
        return found

    def latest(self, table: str, column: str) -> datetime | None:
        with pg.connect(self.dsn) as conn:
            return conn.execute(sql.SQL("SELECT max({}) FROM {}").format(
                sql.Identifier(column), sql.Identifier(self.schema, table))).fetchone()[0]

    def trusted_pending(self, entity: str) -> list[int] | None:
        """The ids of a small table whose raw rows changed since trusted last cleaned it
        (trusted_pendente, noted by the raw step), with those it rejected then (a rule
        may pass now); None when the whole table must be cleaned: never cleaned yet, the
        raw step replaced it, or more than NARROW_LIMIT ids."""
        s = sql.Identifier(self.schema).as_string(None)
        with pg.connect(self.dsn) as conn:
            cleaned = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {s}.{CONTROL} WHERE tabela = "
                                   "%s)", (f"trusted_{entity}",)).fetchone()[0]
            if not cleaned or conn.execute(
                    f"SELECT EXISTS (SELECT 1 FROM {s}.{TRUSTED_PENDING} WHERE tabela = %s "
                    "AND id IS NULL)", (entity,)).fetchone()[0]:
                return None
            ids = [r[0] for r in conn.execute(
                f"SELECT id FROM {s}.{TRUSTED_PENDING} WHERE tabela = %(t)s UNION "
                f"SELECT id::bigint FROM {s}.trusted_rejeitos WHERE tabela = %(t)s "
                "AND id ~ '^-?[0-9]{1,18}$'", {"t": entity})]
        return None if len(ids) > NARROW_LIMIT else ids

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
        with pg.connect(self.dsn) as conn:
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
        the trusted movements `WHERE {chosen}` join to."""
        if chosen is None:
            return self.read("dim_cartao"), self.read("dim_conta"), self.read("dim_associado")
        s = sql.Identifier(self.schema).as_string(None)
        cards, accounts, associados = conn.execute(
            "SELECT array_agg(DISTINCT c.id_cartao), array_agg(DISTINCT c.id_conta), "
            f"array_agg(DISTINCT c.id_associado) FROM {s}.dim_cartao c WHERE c.id_cartao IN "
            f"(SELECT id_cartao FROM {s}.trusted_movimento WHERE {chosen})").fetchone()
        return (self.read("dim_cartao", f"id_cartao = ANY({ids_literal(cards or [])})"),
                self.read("dim_conta", f"id_conta = ANY({ids_literal(accounts or [])})"),
                self.read("dim_associado", f"id_associado = ANY({ids_literal(associados or [])})"))

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
        with pg.connect(self.dsn) as conn:
            known, top = conn.execute(sql.SQL("SELECT count(*), max({}) FROM {} WHERE {} <> %s")
                                      .format(sql.Identifier(sk), sql.Identifier(self.schema, dim),
                                              sql.Identifier(sk)), (unknown,)).fetchone()
            ids = [r[0] for r in conn.execute(candidates)] if known else []
        if not known or len(ids) > NARROW_LIMIT:  # first load, or most rows may change
            return self.read(dim), self.read(trusted), None
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
        with pg.connect(self.dsn) as conn:
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
            if check == "facts":  # the moved versions are in the facts now
                conn.execute(sql.SQL("DELETE FROM {}").format(
                    sql.Identifier(self.schema, FACTS_PENDING)))
            for m in marks:
                pg_apply.set_mark(conn, self.schema, m, load_ts, loaded)
            return written

        frames = {w.table: w.frame for w in writes}
        return postgres_load.load_and_apply(self.dsn, frames, work, schema=self.schema,
                                            batch_size=self.batch_size, scratch=self.scratch)
