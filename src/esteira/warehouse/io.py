"""Reading and writing the warehouse on PostgreSQL (Delta: delta_target.py).

A step hands its target a list of `Write`s (frames computed by transforms) and the
marks to advance; the target applies them: PostgreSQL in ONE transaction (bulk load,
then DELETE/UPDATE/INSERT, checks, marks, commit), Delta as one commit per table
(MERGE for changes) with the marks derived from the data or written after it, so a
rerun repeats nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from psycopg import sql
from pyspark.sql import DataFrame, SparkSession

from esteira.connectors import postgres as pg
from esteira.errors import QualityError
from esteira.warehouse.schemas import (
    CONTROL,
    DDL,
    KEYS,
    SMALL_TABLES,
)

Mode = Literal["replace", "append", "upsert", "newer", "missing", "replace_rejects"]
Check = Literal["dims", "facts"]


@dataclass(frozen=True)
class Write:
    """`frame` into `table`: replace (whole table), append, upsert (by `_acao` on the
    table's key), newer (insert or overwrite an older row of the same id), missing
    (insert only new keys), replace_rejects (this run's rejects of the frame's tables)."""

    table: str
    frame: DataFrame
    mode: Mode


@dataclass(frozen=True)
class Mark:
    """A row of etl_controle: the table's high-water mark (or, with `column`, the
    largest value of that column among the rows the write of `table` loads)."""

    table: str
    high_water_mark: datetime | None = None
    column: str | None = None


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


# --- PostgreSQL target ----------------------------------------------------------------


class PostgresTarget:
    name = "postgres"

    def __init__(self, session: SparkSession, dsn: str, schema: str, batch_size: int) -> None:
        self.session, self.dsn, self.schema, self.batch_size = session, dsn, schema, batch_size

    def qualified(self, table: str) -> str:
        return f"{self.schema}.{table}"

    def prepare(self, unknown: int, open_end: datetime, first_from: datetime) -> None:
        """Tables, indexes and unknown members, created when missing (idempotent)."""
        with pg.connect(self.dsn) as conn, conn.transaction():
            ident = sql.Identifier(self.schema).as_string(conn)
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident}")
            for statement in DDL:
                conn.execute(statement.replace("{s}", ident))
            for statement in _UNKNOWN:
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
            for table in (*TABLES, CONTROL):
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

    def raw_movements(self, after: datetime | None, upto: datetime | None) -> DataFrame:
        return self.read("raw_movimento", _between("ingerido_em", after, upto))

    def fact_inputs(
        self, after: datetime | None, upto: datetime | None
    ) -> tuple[DataFrame, DataFrame]:
        """Trusted movements loaded in (after, upto], plus those of associados whose
        dimension rows changed since `after` (their version may have split) and those
        whose fact still has an unknown member (the card may have arrived); and the fact
        rows those movements have now."""
        s = sql.Identifier(self.schema).as_string(None)
        changed = (f"SELECT c.id FROM {s}.trusted_cartao c WHERE c.id_associado IN "
                   f"(SELECT id_associado FROM {s}.dim_associado WHERE "
                   f"{_between('carregado_em', after, None)})")
        unknown = (f"SELECT id_movimento FROM {s}.fato_movimentacao_cartao "
                   "WHERE sk_cartao < 0 OR sk_associado < 0 OR sk_conta < 0")
        where = _between("carregado_em", after, upto)
        if after is not None:  # + late-arriving members: facts still on the unknown one
            # one IN over a UNION, not ORs of INs: PostgreSQL turns this into semi-joins,
            # while `a OR x IN (sub)` ran the subqueries once per row (minutes at 500k rows)
            ids = (f"SELECT id FROM {s}.trusted_movimento WHERE {where} "
                   f"UNION SELECT id FROM {s}.trusted_movimento WHERE id_cartao IN ({changed}) "
                   f"UNION {unknown}")
            where = f"id IN ({ids})"
        movements = self.read("trusted_movimento", where)
        facts = self.read("fato_movimentacao_cartao", None if after is None else (
            f"id_movimento IN (SELECT id FROM {s}.trusted_movimento WHERE {where})"))
        return movements, facts

    def write_flat(self, path: Path, delimiter: str, encoding: str, timezone: str) -> int:
        """The flat file straight from the warehouse with COPY (the join runs where the
        tables are; the same columns and text as transforms.flat, which the Delta target
        uses), written beside `path` and renamed over it. Returns its rows."""
        import os

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.copy")
        query = sql.SQL(_FLAT_SQL).format(
            fato=sql.Identifier(self.schema, "fato_movimentacao_cartao"),
            a=sql.Identifier(self.schema, "dim_associado"),
            c=sql.Identifier(self.schema, "dim_cartao"),
            k=sql.Identifier(self.schema, "dim_conta"), tz=sql.Literal(timezone))
        copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true, DELIMITER {})").format(
            query, sql.Literal(delimiter))
        try:
            with pg.connect(self.dsn) as conn, conn.cursor() as cur, cur.copy(copy) as out, \
                    tmp.open("wb") as fh:
                for chunk in out:
                    fh.write(chunk)
            if encoding.lower().replace("-", "") != "utf8":
                other = tmp.with_suffix(".enc")
                with tmp.open(encoding="utf-8", newline="") as src, other.open(
                        "w", encoding=encoding, errors="replace", newline="") as dst:
                    for line in src:
                        dst.write(line)
                os.replace(other, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        with path.open("rb") as fh:
            return max(sum(1 for _ in fh) - 1, 0)

    def day_span(self, timezone: str) -> tuple[Any, Any]:
        with pg.connect(self.dsn) as conn:
            return conn.execute(sql.SQL(
                "SELECT min((data_movimento AT TIME ZONE %s)::date), "
                "max((data_movimento AT TIME ZONE %s)::date) FROM {}").format(
                sql.Identifier(self.schema, "trusted_movimento")),
                (timezone, timezone)).fetchone()

    def check_fact_total(self, changes: DataFrame, inserts: int) -> None:
        """Checked inside the transaction instead (see _check_facts)."""

    def apply(self, writes: list[Write], marks: list[Mark], load_ts: datetime,
              check: Check | None = None) -> dict[str, int]:
        """Every write, the checks and the marks in one transaction; rows written per
        table."""

        def work(conn: Any, loaded: dict[str, Any]) -> dict[str, int]:
            written = {w.table: _apply_pg(conn, self.schema, w, loaded[w.table])
                       for w in writes}
            if check is not None:
                _CHECKS[check](conn, self.schema, loaded)
            for m in marks:
                _set_mark(conn, self.schema, m, load_ts, loaded)
            return written

        frames = {w.table: w.frame for w in writes}
        return pg.load_and_apply(self.dsn, frames, work, schema=self.schema,
                                 batch_size=self.batch_size)


def _between(column: str, after: datetime | None, upto: datetime | None) -> str:
    parts = [f"{column} > '{after.isoformat()}'::timestamptz"] if after else []
    if upto is not None:
        parts.append(f"{column} <= '{upto.isoformat()}'::timestamptz")
    return " AND ".join(parts) or "true"


def _apply_pg(conn: Any, schema: str, w: Write, source: Any) -> int:
    """Applies one write; returns the rows it inserted, updated or replaced."""
    target = sql.Identifier(schema, w.table)
    types = pg.column_types(conn, f"{schema}.{w.table}")
    columns = [c for c in w.frame.columns if c in types]
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    casts = sql.SQL(", ").join(
        sql.SQL("s.{}::{}").format(sql.Identifier(c), sql.SQL(types[c])) for c in columns)
    insert = sql.SQL("INSERT INTO {} AS t ({}) SELECT {} FROM {} s").format(
        target, names, casts, source)
    if w.mode == "replace":
        conn.execute(sql.SQL("DELETE FROM {}").format(target))
        return conn.execute(insert).rowcount
    if w.mode == "append":
        return conn.execute(insert).rowcount
    if w.mode == "replace_rejects":  # the small tables' rejects are replaced each run
        conn.execute(sql.SQL("DELETE FROM {} WHERE tabela = ANY(%s)").format(target),
                     (list(SMALL_TABLES),))
        return conn.execute(insert).rowcount
    if w.mode in ("newer", "missing"):
        key = sql.SQL(", ").join(sql.Identifier(c) for c in KEYS[w.table])
        if w.mode == "missing":
            return conn.execute(
                sql.SQL("{} ON CONFLICT ({}) DO NOTHING").format(insert, key)).rowcount
        sets = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in columns)
        return conn.execute(sql.SQL(
            "{} ON CONFLICT ({}) DO UPDATE SET {} WHERE t.atualizado_em <= EXCLUDED.atualizado_em"
        ).format(insert, key, sets)).rowcount
    # upsert: UPDATE the 'U' rows first (closing a current version frees its slot in the
    # partial unique index), then INSERT the 'I' rows
    key = KEYS[w.table]
    sets = sql.SQL(", ").join(
        sql.SQL("{} = s.{}::{}").format(sql.Identifier(c), sql.Identifier(c), sql.SQL(types[c]))
        for c in columns if c not in key)
    match = sql.SQL(" AND ").join(
        sql.SQL("t.{k} = s.{k}").format(k=sql.Identifier(k)) for k in key)
    updated = conn.execute(sql.SQL(
        "UPDATE {} t SET {} FROM {} s WHERE s._acao = 'U' AND {}").format(
        target, sets, source, match)).rowcount
    return updated + conn.execute(sql.SQL("{} WHERE s._acao = 'I'").format(insert)).rowcount


def _set_mark(
    conn: Any, schema: str, mark: Mark, load_ts: datetime, loaded: dict[str, Any]
) -> None:
    value = mark.high_water_mark
    if mark.column is not None:
        value = conn.execute(sql.SQL("SELECT max({}::timestamptz) FROM {}").format(
            sql.Identifier(mark.column), loaded[mark.table])).fetchone()[0]
    rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(schema, mark.table))).fetchone()[0]
    conn.execute(sql.SQL(
        "INSERT INTO {} (tabela, high_water_mark, ultima_carga, linhas) "
        "VALUES (%(t)s, %(h)s, %(u)s, %(n)s) ON CONFLICT (tabela) DO UPDATE SET "
        "high_water_mark = coalesce(EXCLUDED.high_water_mark, {}.high_water_mark), "
        "ultima_carga = EXCLUDED.ultima_carga, linhas = EXCLUDED.linhas").format(
        sql.Identifier(schema, CONTROL), sql.Identifier(CONTROL)),
        {"t": mark.table, "h": value, "u": load_ts, "n": rows})


def _check_dims(conn: Any, schema: str, loaded: dict[str, Any]) -> None:
    """Before commit: no associado with two current versions or overlapping ones."""
    s = sql.Identifier(schema).as_string(conn)
    overlaps = conn.execute(  # one sorted pass (a self-join would be quadratic per plan)
        "SELECT count(*) FROM (SELECT valid_from, lag(valid_to) OVER (PARTITION BY "
        f"id_associado ORDER BY valid_from) AS previous_to FROM {s}.dim_associado) v "
        "WHERE previous_to > valid_from").fetchone()[0]
    if overlaps:
        raise QualityError(f"dim_associado: {overlaps} overlapping version(s); nothing written")


def _check_facts(conn: Any, schema: str, loaded: dict[str, Any]) -> None:
    """Before commit: as many facts as trusted movements, ids unique, every key found."""
    s = sql.Identifier(schema).as_string(conn)
    facts, distinct = conn.execute(
        f"SELECT count(*), count(DISTINCT id_movimento) FROM {s}.fato_movimentacao_cartao"
    ).fetchone()
    trusted = conn.execute(f"SELECT count(*) FROM {s}.trusted_movimento").fetchone()[0]
    problems = []
    if facts != trusted:
        problems.append(f"{facts} facts for {trusted} trusted movements")
    if facts != distinct:
        problems.append(f"{facts - distinct} repeated id_movimento")
    changes = loaded["fato_movimentacao_cartao"]
    for dim in ("associado", "conta", "cartao"):
        missing = conn.execute(sql.SQL(
            "SELECT count(*) FROM {} c WHERE NOT EXISTS (SELECT 1 FROM {} d "
            "WHERE d.{} = c.{})").format(
            changes, sql.Identifier(schema, f"dim_{dim}"), sql.Identifier(f"sk_{dim}"),
            sql.Identifier(f"sk_{dim}"))).fetchone()[0]
        if missing:
            problems.append(f"{missing} sk_{dim} not in dim_{dim}")
    if problems:
        raise QualityError(
            f"fato_movimentacao_cartao: {'; '.join(problems)}; nothing written")


_CHECKS = {"dims": _check_dims, "facts": _check_facts}


_UNKNOWN = [
    "INSERT INTO {s}.dim_associado (sk_associado, id_associado, nome, valid_from, valid_to, "
    "atual) VALUES (%(k)s, %(k)s, 'Desconhecido', %(from)s, %(end)s, true) "
    "ON CONFLICT DO NOTHING",
    "INSERT INTO {s}.dim_conta (sk_conta, id_conta, tipo) VALUES (%(k)s, %(k)s, 'Desconhecido') "
    "ON CONFLICT DO NOTHING",
    "INSERT INTO {s}.dim_cartao (sk_cartao, id_cartao, nom_impresso) "
    "VALUES (%(k)s, %(k)s, 'DESCONHECIDO') ON CONFLICT DO NOTHING",
]

_LOCAL = "to_char({} AT TIME ZONE {{tz}}, 'YYYY-MM-DD HH24:MI:SS')"
_FLAT_SQL = (
    "SELECT a.nome AS nome_associado, a.sobrenome AS sobrenome_associado, "
    "a.idade::text AS idade_associado, f.vlr_transacao::text AS vlr_transacao_movimento, "
    "f.des_transacao AS des_transacao_movimento, "
    f"{_LOCAL.format('f.data_movimento')} AS data_movimento, c.num_cartao AS numero_cartao, "
    "c.nom_impresso AS nome_impresso_cartao, "
    f"{_LOCAL.format('c.data_criacao')} AS data_criacao_cartao, k.tipo AS tipo_conta, "
    f"{_LOCAL.format('k.data_criacao')} AS data_criacao_conta "
    "FROM {fato} f LEFT JOIN {a} a ON a.sk_associado = f.sk_associado "
    "LEFT JOIN {c} c ON c.sk_cartao = f.sk_cartao LEFT JOIN {k} k ON k.sk_conta = f.sk_conta "
    "ORDER BY f.data_movimento, f.id_movimento"
)
