"""Applying a step's writes inside its PostgreSQL transaction (pg_target.apply): the
DELETE/UPDATE/INSERT of each write and the marks in etl_controle (what the next steps
must redo: pg_notes.py; the checks before commit: pg_checks.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import sql

from esteira.connectors import postgres as pg
from esteira.connectors import postgres_load
from esteira.connectors.postgres_load import Loaded
from esteira.warehouse import pg_notes
from esteira.warehouse.io import Mark, Write
from esteira.warehouse.schemas import (
    CONTROL,
    FLAT_MARK,
    KEYS,
    SMALL_TABLES,
)
from esteira.warehouse.transforms import ACTION

# the big tables a first load fills straight from the frame (_first_load); the
# dimensions are never empty (their unknown members) and have notes to keep
BULK_FIRST = ("raw_movimento", "trusted_movimento", "fato_movimentacao_cartao")
# the facts land in the flat file's order: each day's rows lie together on disk, so
# the extract reads a few changed days through the BRIN index on sk_data (a few
# thousand pages) instead of all 5M rows; later runs append the new days at the end
LAID_OUT = {"fato_movimentacao_cartao": ("data_movimento", "id_movimento")}


def apply_write(conn: Any, schema: str, w: Write, rows: Loaded) -> int:
    """Applies one write; returns the rows it inserted, updated or replaced."""
    target = sql.Identifier(schema, w.table)
    types = pg.column_types(conn, f"{schema}.{w.table}")
    columns = [c for c in w.frame.columns if c in types]
    if w.mode in ("append", "newer", "upsert") and w.table in BULK_FIRST and _empty(
            conn, target):
        return _first_load(conn, schema, w, rows, {c: types[c] for c in columns})
    if w.mode == "append":
        added = rows.into(f"{schema}.{w.table}", {c: types[c] for c in columns})
        rows.rows_after = grown(conn, schema, w.table, added)
        return added
    source = rows.table
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    casts = sql.SQL(", ").join(
        sql.SQL("s.{}::{}").format(sql.Identifier(c), sql.SQL(types[c])) for c in columns)
    insert = sql.SQL("INSERT INTO {} AS t ({}) SELECT {} FROM {} s").format(
        target, names, casts, source)
    # in key order: each index grows at its right edge (PostgreSQL's fast path) instead of
    # touching pages all over it; 5M facts inserted in about half the time
    order = sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(
        sql.SQL("s.{}::{}").format(sql.Identifier(k), sql.SQL(types[k]))
        for k in KEYS[w.table])) if w.table in KEYS else sql.SQL("")
    if w.mode == "replace":
        conn.execute(sql.SQL("DELETE FROM {}").format(target))
        return conn.execute(insert).rowcount
    if w.mode == "sync":  # as replace, but rows equal to the new ones are left alone
        return _sync(conn, schema, w.table, source, columns, types, insert,
                     w.scope.get(w.table.split("_", 1)[1]))
    if w.mode == "sync_ids":
        return _sync_ids(conn, schema, w.table, source, insert)
    if w.mode == "append":
        return conn.execute(insert).rowcount
    if w.mode == "replace_rejects":  # the small tables' rejects are replaced each run
        for table in SMALL_TABLES:  # (only those of the ids in scope, and of no id)
            ids = w.scope.get(table)
            within = sql.SQL("") if ids is None else sql.SQL(
                " AND (id IS NULL OR id = ANY({}))").format(sql.Literal([str(i) for i in ids]))
            conn.execute(sql.SQL("DELETE FROM {} WHERE tabela = {}{}").format(
                target, sql.Literal(table), within))
        return conn.execute(insert).rowcount
    if w.mode in ("newer", "missing"):
        key = sql.SQL(", ").join(sql.Identifier(c) for c in KEYS[w.table])
        if w.mode == "missing":
            return conn.execute(
                sql.SQL("{}{} ON CONFLICT ({}) DO NOTHING").format(insert, order, key)).rowcount
        sets = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in columns)
        # the rows it inserted (a row an upsert inserted has no xmax), those it wrote,
        # and those it was given (a row older than the table's is not written)
        written, inserted, given = conn.execute(sql.SQL(
            "WITH w AS ({}{} ON CONFLICT ({}) DO UPDATE SET {} "
            "WHERE t.atualizado_em <= EXCLUDED.atualizado_em RETURNING t.xmax = 0 AS new) "
            "SELECT count(*), count(*) FILTER (WHERE new), (SELECT count(*) FROM {}) "
            "FROM w").format(insert, order, key, sets, source)).fetchone()
        rows.rows_after = grown(conn, schema, w.table, inserted)
        rows.every_row = written == given  # the table holds the frame's rows as given
        return written
    # upsert: UPDATE the 'U' rows first (closing a current version frees its slot in the
    # partial unique index), then INSERT the 'I' rows
    key = KEYS[w.table]
    sets = sql.SQL(", ").join(
        sql.SQL("{} = s.{}::{}").format(sql.Identifier(c), sql.Identifier(c), sql.SQL(types[c]))
        for c in columns if c not in key)
    match = sql.SQL(" AND ").join(
        sql.SQL("t.{k} = s.{k}").format(k=sql.Identifier(k)) for k in key)
    pg_notes.note_flat_days(conn, schema, w.table, source, types)
    if w.table == "dim_associado":
        pg_notes.note_moved_versions(conn, schema, source, types)
    updated = conn.execute(sql.SQL(
        "UPDATE {} t SET {} FROM {} s WHERE s._acao = 'U' AND {}").format(
        target, sets, source, match)).rowcount
    inserted = conn.execute(sql.SQL("{} WHERE s._acao = 'I'{}").format(insert, order)).rowcount
    if w.table in LAID_OUT and inserted:
        # a new day lies past the statistics' last one: planned for 1 row, the extract's
        # render of 257,000 rows took nested loops (4.2 s instead of 1.4 s); 0.27 s
        conn.execute(sql.SQL("ANALYZE {} (sk_data)").format(target))
    rows.rows_after = grown(conn, schema, w.table, inserted)
    return updated + inserted


def _first_load(conn: Any, schema: str, w: Write, rows: Loaded, types: dict[str, str]) -> int:
    """An empty big table filled in bulk: the rows go straight in (one COPY on Sail)
    with the indexes built afterwards, instead of staged, sorted and inserted through
    them; an upsert's rows are all inserts then. A repeated key still fails (when the
    primary key is built). The facts' first load drops the flat file's token, so the
    extract step renders every day (_note_flat_days notes the days on any other run)."""
    table = f"{schema}.{w.table}"
    # emptied in this transaction (it was empty): with wal_level minimal, PostgreSQL
    # then writes the rows and indexes without WAL (it syncs the files at commit), and
    # Sail's COPY can write them frozen (no VACUUM rewrites 5M rows after the load)
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(schema, w.table)))
    with postgres_load.indexes_rebuilt(conn, table):
        added = rows.into(table, types, only=(ACTION, "I") if w.mode == "upsert" else None,
                          freeze=True, order=LAID_OUT.get(w.table, ()))
    # TRUNCATE dropped the table's planner statistics: without them the next run's
    # queries (right after this one, before autovacuum gets to it) were planned blind
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, w.table)))
    if w.table == "fato_movimentacao_cartao":  # every day is new: the whole file again
        conn.execute(sql.SQL("DELETE FROM {} WHERE tabela = %s").format(
            sql.Identifier(schema, CONTROL)), (FLAT_MARK,))
    rows.landed = sql.Identifier(schema, w.table)  # what the checks read: these rows
    rows.rows_after = added
    rows.every_row = w.mode != "upsert"  # an upsert's: only its inserts went in
    return added


def grown(conn: Any, schema: str, table: str, added: int) -> int | None:
    """The table's rows after `added` new ones: its rows in etl_controle (its last load
    counted them, and only its own step writes it) plus those; None when not kept."""
    found = conn.execute(sql.SQL("SELECT linhas FROM {} WHERE tabela = %s").format(
        sql.Identifier(schema, CONTROL)), (table,)).fetchone()
    return None if found is None or found[0] is None else found[0] + added


def _empty(conn: Any, target: Any) -> bool:
    """True when the table has no row."""
    return not conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(
        target)).fetchone()[0]


def _sync(conn: Any, schema: str, table: str, source: Any, columns: list[str],
          types: dict[str, str], insert: Any, scope: list[int] | None) -> int:
    """The table made equal to `source` (only the rows of the ids in `scope`, when
    given) by deleting the rows that differ (compared on every column but the ingestion
    time, matched on the key) and inserting the new ones; when a row repeated in the
    source makes the counts differ, a replace instead; the ids it changed noted
    (_note). Returns the rows deleted or inserted, whichever is more."""
    target = sql.Identifier(schema, table)
    key = sql.SQL(" AND ").join(
        sql.SQL("t.{k} = s.{k}::{t}").format(k=sql.Identifier(k), t=sql.SQL(types[k]))
        for k in KEYS[table])
    compared = [c for c in columns if c != "ingerido_em"]
    same = sql.SQL("ROW({}) IS NOT DISTINCT FROM ROW({})").format(
        sql.SQL(", ").join(sql.SQL("t.") + sql.Identifier(c) for c in compared),
        sql.SQL(", ").join(sql.SQL("s.{}::{}").format(sql.Identifier(c), sql.SQL(types[c]))
                           for c in compared))
    within = sql.SQL("") if scope is None else sql.SQL(" AND t.id = ANY({})").format(
        sql.Literal(scope))
    gone = conn.execute(sql.SQL(
        "DELETE FROM {} t WHERE NOT EXISTS (SELECT 1 FROM {} s WHERE {} AND {}){} "
        "RETURNING t.id").format(target, source, key, same, within)).fetchall()
    added = conn.execute(sql.SQL(
        "{} WHERE NOT EXISTS (SELECT 1 FROM {} t WHERE {} AND {}) RETURNING id").format(
        insert, target, key, same)).fetchall()
    ids: set[int] | None = {i for (i,) in gone + added if i is not None}
    now = conn.execute(sql.SQL("SELECT count(*) FROM {} t WHERE true{}").format(
        target, within)).fetchone()[0]
    wanted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(source)).fetchone()[0]
    changed = max(len(gone), len(added))
    if now != wanted:
        conn.execute(sql.SQL("DELETE FROM {} t WHERE true{}").format(target, within))
        ids, changed = None, conn.execute(insert).rowcount
    pg_notes.note(conn, schema, table, ids)
    return changed


def _sync_ids(conn: Any, schema: str, table: str, source: Any, insert: Any) -> int:
    """sync.id_rows applied: the table's rows of the changed ids deleted, their rows
    now inserted; the ids noted for trusted. Returns the rows deleted or inserted,
    whichever is more."""
    target = sql.Identifier(schema, table)
    deleted = conn.execute(sql.SQL(
        "DELETE FROM {t} t WHERE t.id IN (SELECT s.id::bigint FROM {s} s) OR (t.id IS NULL "
        "AND EXISTS (SELECT 1 FROM {s} s WHERE s.id IS NULL))").format(
        t=target, s=source)).rowcount
    inserted = conn.execute(sql.SQL("{} WHERE s.{} = 'I'").format(
        insert, sql.Identifier(ACTION))).rowcount
    ids = conn.execute(sql.SQL("SELECT array_agg(DISTINCT id::bigint) FROM {} "
                               "WHERE id IS NOT NULL").format(source)).fetchone()[0]
    pg_notes.note(conn, schema, table, set(ids or ()))
    return max(deleted, inserted)


def set_mark(
    conn: Any, schema: str, mark: Mark, load_ts: datetime, loaded: dict[str, Any]
) -> None:
    value = mark.high_water_mark
    if mark.column is not None:
        value = loaded[mark.table].largest(mark.column, "timestamptz")
    rows = loaded.get(f"rows:{mark.table}")  # counted by the check already
    if rows is None and mark.table in loaded:  # a table that only grows: 5M rows not counted
        rows = loaded[mark.table].rows_after
    if rows is None:
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(schema, mark.table))).fetchone()[0]
    conn.execute(sql.SQL(
        "INSERT INTO {} (tabela, high_water_mark, ultima_carga, linhas) "
        "VALUES (%(t)s, %(h)s, %(u)s, %(n)s) ON CONFLICT (tabela) DO UPDATE SET "
        "high_water_mark = coalesce(EXCLUDED.high_water_mark, {}.high_water_mark), "
        "ultima_carga = EXCLUDED.ultima_carga, linhas = EXCLUDED.linhas").format(
        sql.Identifier(schema, CONTROL), sql.Identifier(CONTROL)),
        {"t": mark.table, "h": value, "u": load_ts, "n": rows})
