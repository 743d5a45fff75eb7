"""The notes a step leaves, in its own transaction, for the steps after it: the small
tables' changed ids (trusted_pendente for trusted, dims_pendente for dims), the
associados whose versions moved (fato_pendente, for facts) and the days whose flat rows
changed (flat_pendente, for extract). Each note is cleared in the transaction of the
step that used it, so a failed or killed run leaves them for the next."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from esteira.warehouse.schemas import (
    DIMS_PENDING,
    FACTS_PENDING,
    FLAT_PENDING,
    FLAT_VISIBLE,
    TRUSTED_PENDING,
)


def note(conn: Any, schema: str, table: str, ids: set[int] | None) -> None:
    """After a small table's sync, in its transaction: a raw table notes the ids it
    changed in trusted_pendente (trusted cleans only those); a trusted one clears them
    and notes its own in dims_pendente (dims reads only those). None: the whole table."""
    entity = table.split("_", 1)[1]
    pending = sql.Identifier(schema, TRUSTED_PENDING)
    if table.startswith("trusted_"):  # cleaned: for dims now
        conn.execute(sql.SQL("DELETE FROM {} WHERE tabela = %s").format(pending), (entity,))
        pending = sql.Identifier(schema, DIMS_PENDING)
    if ids is None or len(ids) > _NOTED_LIMIT:  # the next step takes the whole table
        conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, NULL)").format(pending), (entity,))
    elif ids:
        conn.execute(sql.SQL("INSERT INTO {} SELECT %s, unnest(%s::bigint[])").format(
            pending), (entity, sorted(ids)))


_NOTED_LIMIT = 50_000  # changed ids past which the whole table is noted instead


def note_moved_versions(conn: Any, schema: str, source: Any, types: dict[str, str]) -> None:
    """Before dim_associado's upsert: from when on each associado's movements may now
    belong to another version, into fato_pendente (same transaction; the facts step
    recomputes those movements and clears it). A new version: from its start (from
    always when it becomes the first: older movements take the first version); a
    version whose end moved: from the earlier end. Type 1 updates move nothing, nor
    does a new associado's first version: no fact has a version of it yet (its
    movements' facts are on the unknown member, which the facts step always redoes),
    and a '-infinity' for each new associado made that step scan every fact."""
    pending = sql.Identifier(schema, FACTS_PENDING)
    dim = sql.Identifier(schema, "dim_associado")
    conn.execute(sql.SQL(
        "INSERT INTO {p} AS p (id_associado, desde) SELECT id, min(desde) FROM ("
        "SELECT s.id_associado::bigint AS id, CASE WHEN EXISTS (SELECT 1 FROM {d} v WHERE "
        "v.id_associado = s.id_associado::bigint AND v.valid_from < s.valid_from::{ts}) "
        "THEN s.valid_from::{ts} ELSE '-infinity' END AS desde FROM {s} s WHERE s._acao = 'I' "
        "AND EXISTS (SELECT 1 FROM {d} v WHERE v.id_associado = s.id_associado::bigint) "
        "UNION ALL SELECT t.id_associado, least(t.valid_to, s.valid_to::{ts}) FROM {d} t "
        "JOIN {s} s ON t.sk_associado = s.sk_associado::bigint AND s._acao = 'U' "
        "WHERE t.valid_to IS DISTINCT FROM s.valid_to::{ts}) moved GROUP BY id "
        "ON CONFLICT (id_associado) DO UPDATE SET desde = least(p.desde, EXCLUDED.desde)"
    ).format(p=pending, d=dim, s=source, ts=sql.SQL(types["valid_from"])))
    # the facts step joins it to 5M movements: planned without statistics (an empty
    # table's), it hashed all of them instead of the few cards (3.3 s instead of 0.5 s)
    conn.execute(sql.SQL("ANALYZE {}").format(pending))


def note_flat_days(conn: Any, schema: str, table: str, source: Any,
                    types: dict[str, str]) -> None:
    """Before an upsert: the days (sk_data) whose flat-file rows it changes go to
    flat_pendente, in the same transaction (flat_file.py renders only those again).
    Facts: every changed movement's day, and an updated one's previous day. A dimension:
    the days of the facts on its rows whose shown columns (FLAT_VISIBLE) change."""
    pending = sql.Identifier(schema, FLAT_PENDING)
    fato = sql.Identifier(schema, "fato_movimentacao_cartao")
    if table == "fato_movimentacao_cartao":
        conn.execute(sql.SQL(
            "INSERT INTO {p} SELECT DISTINCT s.sk_data::integer FROM {s} s UNION "
            "SELECT f.sk_data FROM {f} f JOIN {s} s ON f.id_movimento = s.id_movimento::bigint "
            "AND s._acao = 'U' ON CONFLICT DO NOTHING").format(p=pending, s=source, f=fato))
        return
    if table not in FLAT_VISIBLE:
        return
    sk = sql.Identifier(f"sk_{table.removeprefix('dim_')}")
    shown = FLAT_VISIBLE[table]
    differs = sql.SQL(" OR ").join(
        sql.SQL("t.{c} IS DISTINCT FROM s.{c}::{t}").format(
            c=sql.Identifier(c), t=sql.SQL(types[c])) for c in shown)
    keys = [r[0] for r in conn.execute(sql.SQL(
        "SELECT t.{k} FROM {d} t JOIN {s} s ON t.{k} = s.{k}::bigint AND s._acao = 'U' "
        "WHERE {w}").format(k=sk, d=sql.Identifier(schema, table), s=source, w=differs))]
    if keys:  # one pass over the facts, only when a shown column changed
        conn.execute(sql.SQL(
            "INSERT INTO {p} SELECT DISTINCT sk_data FROM {f} WHERE {k} = ANY(%s) "
            "ON CONFLICT DO NOTHING").format(p=pending, f=fato, k=sk), (keys,))
