"""The analysts' reports over `pedidos` (issue 16, item 6): parameterized SQL, never built
from input text.

Each report is one constant query; the filters (--from/--to on the order's local date in
the configured zone, --uf, --status) are constant SQL fragments chosen by which options
were given, and every value travels as a query parameter. Counts include every status
by default, as the seed's queries do; revenue-by-category counts Pago only by default.
Ties are broken by the report's key, ascending, so every run prints the same rows. The
result says what it counted (statuses, period, UF, orders), printed and in the CSV.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from psycopg import sql

from esteira.brazil import fold
from esteira.connectors import files
from esteira.connectors import postgres as pg
from esteira.errors import ConfigError
from esteira.formats import date_br, integer_br, money_br
from esteira.orders.config import OrdersSettings


@dataclass(frozen=True)
class Spec:
    title: str
    select: str  # columns and aggregates over table "p"
    group: str
    order: str  # the measure descending, then the key ascending
    columns: tuple[str, ...]
    money: tuple[str, ...]  # columns printed as R$
    default_status: tuple[str, ...] = ()  # empty: every status
    chart: tuple[str, str] = ("", "")  # label column, value column


REPORTS = {
    "top-products": Spec(
        "Produtos mais vendidos (unidades)",
        "produto_id, min(categoria) AS categoria, count(*) AS pedidos, sum(qtde) AS unidades, "
        "sum(valor_total) AS receita", "produto_id", "unidades DESC, produto_id ASC",
        ("produto_id", "categoria", "pedidos", "unidades", "receita"), ("receita",),
        chart=("produto_id", "unidades")),
    "top-cities": Spec(
        "Cidades com mais pedidos",
        "cidade, uf, count(*) AS pedidos, sum(valor_total) AS receita", "cidade, uf",
        "pedidos DESC, cidade ASC, uf ASC", ("cidade", "uf", "pedidos", "receita"),
        ("receita",), chart=("cidade", "pedidos")),
    "revenue-by-category": Spec(
        "Receita por categoria",
        "categoria, count(*) AS pedidos, sum(valor_total) AS receita", "categoria",
        "receita DESC, categoria ASC", ("categoria", "pedidos", "receita"), ("receita",),
        default_status=("Pago",), chart=("categoria", "receita")),
    "channels": Spec(
        "Pedidos por canal de venda",
        "coalesce(canal_venda, '(desconhecido)') AS canal_venda, count(*) AS pedidos, "
        "sum(valor_total) AS receita, round(avg(valor_total), 2) AS ticket_medio",
        "1", "pedidos DESC, canal_venda ASC",
        ("canal_venda", "pedidos", "receita", "ticket_medio"), ("receita", "ticket_medio"),
        chart=("canal_venda", "pedidos")),
    "status": Spec(
        "Pedidos por status",
        "status_pedido, count(*) AS pedidos, sum(valor_total) AS receita",
        "status_pedido", "pedidos DESC, status_pedido ASC",
        ("status_pedido", "pedidos", "receita"), ("receita",), chart=("status_pedido", "pedidos")),
}


@dataclass(frozen=True)
class ReportRequest:
    name: str
    limit: int = 10
    start: date | None = None
    end: date | None = None
    uf: str | None = None
    statuses: tuple[str, ...] | None = None  # None: the report's default; (): every status

    @classmethod
    def parse(cls, name: str, cfg: OrdersSettings, limit: int = 10, start: str | None = None,
              end: str | None = None, uf: str | None = None,
              status: str | None = None) -> ReportRequest:
        if name not in REPORTS:
            raise ConfigError(f"unknown report {name!r}; one of {', '.join(REPORTS)}")
        if limit < 1:
            raise ConfigError("--limit must be at least 1")
        first, last = _date(start, "--from"), _date(end, "--to")
        if first and last and first > last:
            raise ConfigError("--from is after --to")
        return cls(name, limit, first, last, uf.strip().upper() if uf else None,
                   _statuses(status, cfg))


@dataclass
class ReportResult:
    title: str
    columns: tuple[str, ...]
    money: tuple[str, ...]
    rows: list[tuple]
    counted: str  # what was counted, in words
    orders: int  # orders matching the filters (all groups, not only the rows shown)
    chart: tuple[str, str]


def run(dsn: str, cfg: OrdersSettings, request: ReportRequest) -> ReportResult:
    spec = REPORTS[request.name]
    statuses = spec.default_status if request.statuses is None else request.statuses
    where, params = _filters(request, statuses, cfg.timezone)
    table = sql.Identifier(cfg.pg_schema, cfg.table)
    query = sql.SQL("SELECT {} FROM {} AS p WHERE {} GROUP BY {} ORDER BY {} LIMIT %(limit)s"
                    ).format(sql.SQL(spec.select), table, where, sql.SQL(spec.group),
                             sql.SQL(spec.order))
    total = sql.SQL("SELECT count(*) FROM {} AS p WHERE {}").format(table, where)
    with pg.connect(dsn) as conn:
        rows = conn.execute(query, {**params, "limit": request.limit}).fetchall()
        orders = conn.execute(total, params).fetchone()[0]
    return ReportResult(spec.title, spec.columns, spec.money, rows,
                        _counted(request, statuses, cfg.timezone, orders), orders, spec.chart)


def _filters(request: ReportRequest, statuses: tuple[str, ...],
             zone: str) -> tuple[sql.Composable, dict]:
    parts: list[sql.Composable] = [sql.SQL("TRUE")]
    params: dict = {"tz": zone}
    if request.start:
        parts.append(sql.SQL("(p.data_pedido AT TIME ZONE %(tz)s)::date >= %(start)s"))
        params["start"] = request.start
    if request.end:
        parts.append(sql.SQL("(p.data_pedido AT TIME ZONE %(tz)s)::date <= %(end)s"))
        params["end"] = request.end
    if request.uf:
        parts.append(sql.SQL("p.uf = %(uf)s"))
        params["uf"] = request.uf
    if statuses:
        parts.append(sql.SQL("p.status_pedido = ANY(%(statuses)s)"))
        params["statuses"] = list(statuses)
    return sql.SQL(" AND ").join(parts), params


def _counted(request: ReportRequest, statuses: tuple[str, ...], zone: str, orders: int) -> str:
    period = "todo o período"
    if request.start or request.end:
        first = date_br(request.start, null="o início")
        period = f"de {first} a {date_br(request.end, null='hoje')}"
    return (f"contados: {integer_br(orders)} pedidos; status: "
            f"{', '.join(statuses) if statuses else 'todos'}; data do pedido: {period} "
            f"({zone}); UF: {request.uf or 'todas'}")


def _date(text: str | None, option: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option}: not a date (aaaa-mm-dd)") from None


def _statuses(text: str | None, cfg: OrdersSettings) -> tuple[str, ...] | None:
    if text is None:
        return None
    if text.strip().lower() in ("all", "todos"):
        return ()
    lookup = {fold(a): canon for canon, aliases in cfg.statuses.items()
              for a in [canon, *aliases]}
    found = []
    for item in (part for part in text.split(",") if part.strip()):
        canon = lookup.get(fold(item))
        if canon is None:
            raise ConfigError(f"--status: unknown status; known: {', '.join(cfg.statuses)}")
        found.append(canon)
    return tuple(dict.fromkeys(found))


def cell(value: object, money: bool) -> str:
    """A value as a person reads it (pt-BR)."""
    if value is None:
        return "-"
    if money:
        return money_br(value)
    if isinstance(value, int):
        return integer_br(value)
    return str(value)


def write_csv(result: ReportResult, path: Path) -> None:
    """ISO/dot decimals for programs; the last line says what was counted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([f"{v:.2f}" if isinstance(v, Decimal) else v for v in row])
    files.write_text(path, buffer.getvalue() + f"# {result.counted}\n")


def write_chart(result: ReportResult, path: Path) -> None:
    """A horizontal bar chart of the report's measure (PNG, matplotlib's Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    label, value = result.chart
    li, vi = result.columns.index(label), result.columns.index(value)
    labels = [str(r[li]) for r in result.rows][::-1]
    values = [float(r[vi] or 0) for r in result.rows][::-1]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.4 * len(labels) + 1.2)))
    ax.barh(labels, values, color="#2f6f9f")
    ax.set_title(result.title)
    ax.set_xlabel(value)
    fig.text(0.01, 0.01, result.counted, fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
