"""movimento_flat.csv kept in step with the PostgreSQL warehouse, without rendering
every movement on every run.

The file's rows are ordered by data_movimento (then id), so each day of movements
(sk_data, the local day) is one contiguous run of lines. An index beside the file
(`.movimento_flat.csv.index.json`) records each day's byte range and rows. The facts
and dims steps note in `flat_pendente`, in the same transaction as their changes, the
days whose flat rows they changed; extract renders only those days (one COPY from the
warehouse, flat_render.py), copies every other day's bytes from the previous file
(inside the kernel; the run before the first pending day by a thread, while
PostgreSQL renders), renames the new file over the old one, and only then clears the
days it used.

Any doubt about the previous file (no index, another delimiter or time zone, a file
changed since, a warehouse reset or another file written since: the index's token must
equal the one kept in etl_controle) renders every day, by `warehouse.flat_parts`
connections at once: the file always holds the whole warehouse. A non-UTF-8 encoding
is rendered whole every run (re-encoded in Python).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg import IsolationLevel, sql

from esteira.connectors import files
from esteira.connectors import postgres as pg
from esteira.errors import EsteiraError
from esteira.warehouse import flat_bytes, flat_render
from esteira.warehouse.schemas import CONTROL, FLAT, FLAT_MARK, FLAT_PENDING

log = logging.getLogger(__name__)

INDEX_VERSION = 2  # days: [sk_data, first byte, end byte, rows]


def write(dsn: str, schema: str, path: Path, delimiter: str, encoding: str,
          timezone: str, parts: int = 1,
          engine_lines: Callable[[], Any] | None = None) -> tuple[int, int]:
    """Brings the flat file up to date with the warehouse; (rows in the file, rows
    rendered this run). A whole file is rendered by `parts` connections at once, or,
    given `engine_lines` (the engine's lines of every fact, as flat_lines.flat_lines
    makes them, in Arrow: called only when a whole file is needed), written from
    those."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if encoding.lower().replace("-", "").replace("_", "") != "utf8":
        return _write_whole_reencoded(dsn, schema, path, delimiter, encoding, timezone)
    params = {"delimiter": delimiter, "timezone": timezone, "schema": schema}
    render = flat_render.Render(schema, delimiter, timezone)
    tmp = path.with_name(f".{path.name}.new")
    try:
        with pg.connect(dsn) as conn:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ  # one snapshot for all
            conn.read_only = True
            index = _usable_index(conn, schema, path, params)
            pending = _pending(conn, schema)
            if index is None:
                every_day = _day_counts(conn, schema)
            else:  # the unchanged days' rows as the index says, the pending days' counted
                kept = {d: n for d, _, _, n in index["days"] if d not in set(pending)}
                every_day = dict(sorted({**kept, **_day_counts(conn, schema, pending)}.items()))
            if index is not None and not pending:  # nothing changed since the file was made
                return sum(every_day.values()), 0
            days = None
            if index is not None:
                counts = {d: n for d, n in every_day.items() if d in set(pending)}  # file order
                days = _update(conn, render, path, tmp, index, every_day, counts)
            if days is None:  # no usable previous file, or a line break inside a field
                counts = every_day
                days = (_write_engine_lines(engine_lines(), render.header, tmp, every_day)
                        if engine_lines is not None else flat_render.write_whole(
                            conn, flat_render.Whole(dsn, render, parts), tmp, every_day))
            conn.rollback()
        files.swap_in(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _commit(dsn, schema, path, params, days or None, pending)
    return sum(every_day.values()), sum(counts.values())


def _write_engine_lines(lines: Any, header: bytes, tmp: Path,
                        every_day: dict[int, int]) -> list[list[int]]:
    """header + the engine's lines into `tmp`; the new index's days (as write_whole)."""
    log.info("movimento_flat: every day written from the engine's lines")
    if len(lines) != sum(every_day.values()):
        raise EsteiraError(f"movimento_flat: the engine made {len(lines)} lines for "
                           f"{sum(every_day.values())} facts; the file was left as it was")
    with tmp.open("wb") as out:
        out.write(header)
        flat_bytes.write_sorted_lines(lines, out)
    ranges = flat_bytes.split_lines(tmp, every_day, len(header))
    return [] if ranges is None else [[d, *ranges[d], n] for d, n in every_day.items()]


def _usable_index(conn: Any, schema: str, path: Path,
                  params: dict[str, str]) -> dict[str, Any] | None:
    """The previous file's index when it can be trusted, else None (render every day)."""
    index_path = _index_path(path)
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return None
    token = conn.execute(sql.SQL("SELECT high_water_mark FROM {} WHERE tabela = %s").format(
        sql.Identifier(schema, CONTROL)), (FLAT_MARK,)).fetchone()
    if (index.get("version") != INDEX_VERSION or index.get("params") != params
            or index.get("size") != stat.st_size or index.get("mtime_ns") != stat.st_mtime_ns
            or token is None or token[0] is None
            or index.get("token") != token[0].astimezone(UTC).isoformat()):
        return None
    return index


def _pending(conn: Any, schema: str) -> list[int]:
    return [r[0] for r in conn.execute(sql.SQL("SELECT sk_data FROM {}").format(
        sql.Identifier(schema, FLAT_PENDING))).fetchall()]


def _day_counts(conn: Any, schema: str, days: list[int] | None = None) -> dict[int, int]:
    """Facts per day (sk_data) of `days` (None: every day), in file order; a day
    without facts is left out."""
    rows = conn.execute(sql.SQL(
        "SELECT sk_data, count(*) FROM {} f {} GROUP BY sk_data ORDER BY sk_data").format(
        sql.Identifier(schema, "fato_movimentacao_cartao"), flat_render.of_days(days))).fetchall()
    return dict(rows)


def _update(conn: Any, render: flat_render.Render, path: Path, tmp: Path, index: dict[str, Any],
            every_day: dict[int, int], counts: dict[int, int]) -> list[list[int]] | None:
    """header + each day's lines into `tmp`: the pending days (`counts`) rendered, the
    others copied from the previous file. The previous file up to its first day at or
    after the first pending one (the header and the unchanged days before it: nearly
    all of it when the changes are recent) is copied by a thread while PostgreSQL
    renders. The new index's days, or None when the rendered lines cannot be split
    into days."""
    first = min(counts)
    old = {d: (s, e) for d, s, e, _ in index["days"]}
    kept = [day for day in index["days"] if day[0] < first]  # same bytes, same places
    cut = next((s for d, s, _, _ in index["days"] if d >= first), index["size"])
    rendered = path.with_name(f".{path.name}.days")
    try:
        with tmp.open("wb") as out, path.open("rb") as old_fh:
            with ThreadPoolExecutor(1) as pool:
                copied = pool.submit(flat_bytes.copy_range, old_fh, out, 0, cut)
                with rendered.open("wb") as fh:
                    render.rows(conn, sorted(counts), fh)
                copied.result()  # its error, if it failed
            ranges = flat_bytes.split_lines(rendered, counts)
            if ranges is None:
                return None
            days, position = list(kept), cut
            with rendered.open("rb") as new_fh:
                for day, rows in every_day.items():
                    if day < first:
                        continue
                    src, (start, end) = (new_fh, ranges[day]) if day in ranges else (
                        old_fh, old[day])
                    flat_bytes.copy_range(src, out, start, end)
                    days.append([day, position, position + end - start, rows])
                    position += end - start
    finally:
        rendered.unlink(missing_ok=True)
    return days


def _commit(dsn: str, schema: str, path: Path, params: dict[str, str],
            days: list[list[int]] | None, pending: Iterable[int]) -> None:
    """The new index beside the file, its token in etl_controle and the pending days it
    used cleared, in that order: a run killed in between only renders more next time."""
    index_path = _index_path(path)
    token = datetime.now(UTC)
    if days is None:
        index_path.unlink(missing_ok=True)
    else:
        stat = path.stat()
        tmp = index_path.with_name(index_path.name + ".new")
        tmp.write_text(json.dumps({
            "version": INDEX_VERSION, "params": params, "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "token": token.isoformat(), "days": days}),
            encoding="utf-8")
        os.replace(tmp, index_path)
    with pg.connect(dsn) as conn, conn.transaction():
        conn.execute(sql.SQL(
            "INSERT INTO {} (tabela, high_water_mark, ultima_carga) VALUES (%s, %s, %s) "
            "ON CONFLICT (tabela) DO UPDATE SET high_water_mark = EXCLUDED.high_water_mark, "
            "ultima_carga = EXCLUDED.ultima_carga").format(sql.Identifier(schema, CONTROL)),
            (FLAT_MARK, token, token))
        conn.execute(sql.SQL("DELETE FROM {} WHERE sk_data = ANY(%s)").format(
            sql.Identifier(schema, FLAT_PENDING)), (list(pending),))


def _index_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.index.json")


def _write_whole_reencoded(dsn: str, schema: str, path: Path, delimiter: str, encoding: str,
                           timezone: str) -> tuple[int, int]:
    """Every day rendered, re-encoded into `encoding` (unmappable characters replaced)."""
    rendered = path.with_name(f".{path.name}.days")
    tmp = path.with_name(f".{path.name}.new")
    rows = 0
    try:
        with pg.connect(dsn) as conn, rendered.open("wb") as fh:
            flat_render.Render(schema, delimiter, timezone).rows(conn, None, fh)
        with rendered.open(encoding="utf-8", newline="") as src, tmp.open(
                "w", encoding=encoding, errors="replace", newline="") as dst:
            dst.write(delimiter.join(FLAT) + "\n")
            for line in src:
                dst.write(line)
                rows += 1
        files.swap_in(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        rendered.unlink(missing_ok=True)
    _index_path(path).unlink(missing_ok=True)
    return rows, rows
