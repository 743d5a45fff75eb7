"""`esteira orders ...`: extract from the shop's API, produce a CSV, consume, report, check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from esteira import cli_common
from esteira.errors import ConfigError
from esteira.formats import integer_br, number_br
from esteira.logs import output

app = typer.Typer(help="E-commerce orders: API/CSV -> Kafka -> PostgreSQL, reports.",
                  no_args_is_help=True)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_seconds(text: str, option: str) -> float:
    """'15s', '2m', '1h', '500ms' or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"{option}: not a duration (e.g. 15s, 2m)")
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]


@app.command("produce")
def produce_command(
    csv: Annotated[Path, typer.Option("--csv", help="the shop's export (CSV, header)")],
    topic: Annotated[str | None, typer.Option(help="default: orders.topic")] = None,
    rate: Annotated[float | None, typer.Option(help="messages per second (default: max)")]
    = None,
) -> None:
    """Send an export's rows to Kafka (key pedido_id, JSON value, idempotent producer)."""
    from esteira import endpoints
    from esteira.orders.produce import ProduceRequest, produce, require_delivered

    settings = cli_common.settings()
    cfg = settings.orders
    request = ProduceRequest.parse(csv, topic, rate, cfg)
    result = produce(endpoints.kafka_bootstrap(settings), cfg, request)
    output.print(f"tópico {request.topic}: {integer_br(result.delivered)} entregues, "
                 f"{integer_br(result.failed)} falharam, de {integer_br(result.rows)} linhas")
    if result.unparseable_lines:
        shown = ", ".join(str(n) for n in result.unparseable_lines[:20])
        more = len(result.unparseable_lines) - 20
        output.print(f"linhas ilegíveis (enviadas a {cfg.dlq_topic}): {shown}"
                     + (f" e mais {integer_br(more)}" if more > 0 else ""))
    require_delivered(result, request.topic)


@app.command("consume")
def consume_command(
    until_idle: Annotated[str | None, typer.Option(help="stop after this long without "
                                                   "input, e.g. 15s")] = None,
) -> None:
    """Kafka -> validated, versioned upserts into PostgreSQL (engine spark only)."""
    from esteira.orders.job import ConsumeRequest, consume, require_spark

    settings = cli_common.settings()
    require_spark(settings)
    request = ConsumeRequest.parse(
        parse_seconds(until_idle, "--until-idle") if until_idle else None)
    result = consume(settings, cli_common.session(), request)
    output.print(
        f"consumidor parado: {integer_br(result.batches)} lotes, {integer_br(result.records)} "
        f"registros, {integer_br(result.written)} pedidos gravados (mais novo por pedido e "
        f"lote), {integer_br(result.rejected)} rejeitados (DLQ {settings.orders.dlq_topic}), "
        f"{integer_br(result.replayed)} lotes reprocessados sem efeito, "
        f"{integer_br(result.alerts)} alertas de rejeição")


@app.command("check")
def check_command(
    csv: Annotated[Path, typer.Option("--csv", help="the shop's export (CSV, header)")],
) -> None:
    """Normalise an export and count every rule's failures; writes nothing."""
    from esteira.orders.job import CheckRequest, check

    settings = cli_common.settings()
    report = check(settings, cli_common.session(), CheckRequest.parse(csv))
    output.print(f"{csv.name}: {integer_br(report.rows)} linhas, {integer_br(report.passed)} "
                 f"válidas, {integer_br(report.rejected)} seriam rejeitadas")
    for rule in report.rules:
        share = report.failures[rule.name] / report.rows * 100 if report.rows else 0
        output.print(f"  {rule.name} ({rule.action}): {integer_br(report.failures[rule.name])}"
                     f" ({number_br(share, 1)}%)")


@app.command("report")
def report_command(
    name: Annotated[str, typer.Argument(help="top-products, top-cities, revenue-by-category, "
                                        "channels or status")],
    limit: Annotated[int, typer.Option(help="rows to show")] = 10,
    start: Annotated[str | None, typer.Option("--from", help="first order date, aaaa-mm-dd")]
    = None,
    end: Annotated[str | None, typer.Option("--to", help="last order date, aaaa-mm-dd")] = None,
    uf: Annotated[str | None, typer.Option(help="only this UF, e.g. SP")] = None,
    status: Annotated[str | None, typer.Option(help="all, or a list: pago,cancelado")] = None,
    out: Annotated[Path | None, typer.Option(help="write the rows as CSV")] = None,
    chart: Annotated[Path | None, typer.Option(help="write a bar chart (PNG)")] = None,
) -> None:
    """One of the analysts' reports from PostgreSQL, printed in pt-BR."""
    from rich.table import Table

    from esteira import endpoints
    from esteira.orders import reports

    settings = cli_common.settings()
    request = reports.ReportRequest.parse(name, settings.orders, limit, start, end, uf, status)
    result = reports.run(endpoints.postgres_dsn(settings), settings.orders, request)
    table = Table(title=result.title, caption=result.counted)
    for column in result.columns:
        table.add_column(column, justify="right" if column not in ("produto_id", "categoria",
                         "cidade", "uf", "canal_venda", "status_pedido") else "left")
    for row in result.rows:
        table.add_row(*[reports.cell(v, c in result.money) for v, c in zip(row, result.columns,
                                                                             strict=True)])
    output.print(table)
    if out is not None:
        reports.write_csv(result, out)
        output.print(f"CSV: {out}")
    if chart is not None:
        reports.write_chart(result, chart)
        output.print(f"gráfico: {chart}")


@app.command("extract")
def extract_command(
    api: Annotated[str, typer.Option(help="the shop's orders endpoint (http/https)")],
    since: Annotated[str | None, typer.Option(help="ISO date-time; default: the high-water "
                                              "mark of the last run")] = None,
    out: Annotated[Path | None, typer.Option(help="write a CSV here")] = None,
    to_kafka: Annotated[bool, typer.Option("--to-kafka", help="send to orders.topic")] = False,
) -> None:
    """Fetch the orders changed since the last run (bearer token from the environment)."""
    from esteira import endpoints
    from esteira.orders.extract import ExtractRequest, extract

    settings = cli_common.settings()
    request = ExtractRequest.parse(api, since, out, to_kafka)
    bootstrap = endpoints.kafka_bootstrap(settings) if to_kafka else None
    result = extract(settings.orders, settings.home, request, bootstrap)
    where = str(out) if out is not None else f"tópico {settings.orders.topic}"
    output.print(f"{integer_br(result.pages)} páginas, {integer_br(result.orders)} pedidos "
                 f"-> {where} ({integer_br(result.duplicates)} repetidos ignorados, "
                 f"{integer_br(result.retries)} novas tentativas); desde "
                 f"{result.since or 'o início'}; marca d'água: {result.high_water_mark or '-'}")
