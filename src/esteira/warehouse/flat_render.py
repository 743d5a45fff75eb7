"""The flat file's rows rendered by PostgreSQL: one SELECT over the star schema, its
text the same as transforms.flat's (the Delta target's), as CSV by COPY; a whole file by
several connections at once on one snapshot (flat_file.py decides what to render)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from psycopg import IsolationLevel, sql

from esteira.connectors import postgres as pg
from esteira.warehouse import flat_bytes
from esteira.warehouse.schemas import FLAT

# a timestamp's local time as text, YYYY-MM-DD HH:MM:SS (DateStyle ISO: set by Render);
# 3.5 s less than to_char over 5M rows, the same text
_LOCAL = "date_trunc('second', {} AT TIME ZONE {{tz}})::text"
# the same columns and text as transforms.flat (the Delta target's), computed where the
# tables are. A whole render computes each dimension's text once per dimension row
# ({fence} OFFSET 0 keeps PostgreSQL from merging it into the outer query, which would
# compute it again for every fact); a few days' render only for the facts it shows
FLAT_SQL = (
    "SELECT a.nome AS nome_associado, a.sobrenome AS sobrenome_associado, "
    "a.idade AS idade_associado, f.vlr_transacao::text AS vlr_transacao_movimento, "
    "f.des_transacao AS des_transacao_movimento, "
    f"{_LOCAL.format('f.data_movimento')} AS data_movimento, c.num_cartao AS numero_cartao, "
    "c.nom_impresso AS nome_impresso_cartao, c.criado AS data_criacao_cartao, "
    "k.tipo AS tipo_conta, k.criado AS data_criacao_conta FROM {fato} f "
    "LEFT JOIN (SELECT sk_associado, nome, sobrenome, idade::text AS idade FROM {a} "
    "{fence}) a ON a.sk_associado = f.sk_associado "
    "LEFT JOIN (SELECT sk_cartao, num_cartao, nom_impresso, "
    f"{_LOCAL.format('data_criacao')} AS criado FROM {{c}} {{fence}}) c "
    "ON c.sk_cartao = f.sk_cartao "
    f"LEFT JOIN (SELECT sk_conta, tipo, {_LOCAL.format('data_criacao')} AS criado FROM {{k}} "
    "{fence}) k ON k.sk_conta = f.sk_conta "
    "{where} ORDER BY f.data_movimento, f.id_movimento"
)


def of_days(days: list[int] | None) -> sql.Composable:
    """The WHERE clause of the facts of `days` (None: no clause): one range per run of
    consecutive calendar days, which the BRIN index on sk_data can take (it cannot take
    `= ANY`) and the planner estimates from its histogram. A range plus `= ANY` was
    estimated as the product of both (1,800 rows for 159,000): nested loops into the
    dimensions, 1.2-1.7 s instead of 0.7-1.1 s for nine days."""
    if days is None:
        return sql.SQL("")
    runs = day_runs(days) or [(0, 0)]
    return sql.SQL("WHERE {}").format(sql.SQL(" OR ").join(
        sql.SQL("f.sk_data BETWEEN {} AND {}").format(sql.Literal(a), sql.Literal(b))
        for a, b in runs))


def day_runs(days: list[int]) -> list[tuple[int, int]]:
    """yyyymmdd days as runs of consecutive calendar days, (first, last) each: every
    yyyymmdd integer between two days of a run is a day of it (or no date at all)."""
    runs: list[tuple[int, int]] = []
    for day in sorted(set(days)):
        if runs and _next_day(runs[-1][1]) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _next_day(day: int) -> int | None:
    """The yyyymmdd after `day`; None when `day` is no date (a run of its own)."""
    try:
        following = date(day // 10000, day // 100 % 100, day % 100) + timedelta(days=1)
    except ValueError:
        return None
    return following.year * 10000 + following.month * 100 + following.day


@dataclass(frozen=True)
class Render:
    """How the flat rows are rendered: the warehouse's schema, the delimiter, the zone."""
    schema: str
    delimiter: str
    timezone: str

    @property
    def header(self) -> bytes:
        return (self.delimiter.join(FLAT) + "\n").encode()  # plain ASCII names: no quoting

    def rows(self, conn: Any, days: list[int] | None, out: Any,
             span: tuple[int, int] | None = None) -> None:
        """The flat rows of `days` (None: every day, or the days from span[0] through
        span[1]), in file order, as CSV without header, written to the binary file
        `out`."""
        where = of_days(days) if span is None else sql.SQL(
            "WHERE f.sk_data BETWEEN {} AND {}").format(*map(sql.Literal, span))
        query = sql.SQL(FLAT_SQL).format(
            fato=sql.Identifier(self.schema, "fato_movimentacao_cartao"),
            a=sql.Identifier(self.schema, "dim_associado"),
            c=sql.Identifier(self.schema, "dim_cartao"),
            k=sql.Identifier(self.schema, "dim_conta"), tz=sql.Literal(self.timezone),
            where=where, fence=sql.SQL("OFFSET 0" if days is None else ""))
        conn.execute("SET LOCAL datestyle = 'ISO, YMD'")  # the text of _LOCAL
        if days is not None:  # a few days' rows: sorted in memory, not spilled to disk
            conn.execute("SET LOCAL work_mem = '256MB'")
        copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, DELIMITER {})").format(
            query, sql.Literal(self.delimiter))
        with conn.cursor() as cur, cur.copy(copy) as rows:
            for chunk in rows:
                out.write(chunk)


@dataclass(frozen=True)
class Whole:
    """A whole file's render: `parts` connections at once, each a run of days."""
    dsn: str
    render: Render
    parts: int


def write_whole(conn: Any, whole: Whole, tmp: Path,
                 every_day: dict[int, int]) -> list[list[int]]:
    """header + every day's rows, rendered straight into `tmp`; the new index's days
    ([] when the lines cannot be split into days: a line break inside a field). With
    several parts, `conn` renders the first run of days and the other connections,
    on its snapshot, render the others into files of their own, appended after it
    (PostgreSQL renders on one core per connection: 5M rows took 26 s on one)."""
    header, render = whole.render.header, whole.render
    spans = _spans(every_day, whole.parts)
    others = [tmp.with_name(f"{tmp.name}.{i}") for i in range(1, len(spans))]
    try:
        with tmp.open("wb") as out:
            out.write(header)
            if not others:
                render.rows(conn, None, out)
            else:
                snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
                with ThreadPoolExecutor(len(others)) as pool:
                    later = [pool.submit(_render_part, whole, snapshot, span, part)
                             for span, part in zip(spans[1:], others, strict=True)]
                    render.rows(conn, None, out, spans[0])
                    for done in later:
                        done.result()  # its error, if it failed
                for part in others:
                    with part.open("rb") as fh:
                        flat_bytes.copy_range(fh, out, 0, part.stat().st_size)
    finally:
        for part in others:
            part.unlink(missing_ok=True)
    ranges = flat_bytes.split_lines(tmp, every_day, len(header))
    return [] if ranges is None else [[d, *ranges[d], n] for d, n in every_day.items()]


def _spans(every_day: dict[int, int], parts: int) -> list[tuple[int, int]]:
    """The days cut into up to `parts` runs of about as many rows each: (first, last)."""
    total, spans, start, seen = sum(every_day.values()), [], None, 0
    for day, rows in every_day.items():
        start = day if start is None else start
        seen += rows
        if seen * parts >= total * (len(spans) + 1):
            spans.append((start, day))
            start = None
    if start is not None:
        spans.append((start, day))
    return spans


def _render_part(whole: Whole, snapshot: str, span: tuple[int, int], path: Path) -> None:
    """The rows of the days in `span` into `path`, on another connection that sees
    exactly what the first one sees (its exported snapshot)."""
    with pg.connect(whole.dsn) as conn, path.open("wb") as out:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        whole.render.rows(conn, None, out, span)
        conn.rollback()
