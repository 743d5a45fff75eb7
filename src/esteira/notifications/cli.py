"""`esteira notifications ...` commands: produce traffic, run the stream, show usage."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from esteira import cli_common
from esteira.errors import ConfigError
from esteira.formats import datetime_br, integer_br
from esteira.logs import output

app = typer.Typer(help="WhatsApp notification usage.", no_args_is_help=True)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_KIND_LABELS = {
    "valid": "válidas (primeira entrega)",
    "late": "atrasadas (até horas)",
    "duplicate": "reentregas (mesmo message_id)",
    "not_json": "quebradas: não é JSON",
    "missing_field": "quebradas: campo faltando",
    "wrong_type": "quebradas: tipo errado",
    "too_late": "atrasadas demais (além do limite)",
}


def parse_seconds(text: str, option: str) -> float:
    """'30s', '2m', '1h', '500ms' or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"{option}: {text!r} is not a duration (e.g. 30s, 2m)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
    return float(match.group(1)) * scale


@app.command("produce")
def produce_command(
    rate: Annotated[str, typer.Option(help="messages per second: 1000 or 1000/s")] = "1000",
    duration: Annotated[str, typer.Option(help="how long: 60s, 5m")] = "60s",
    customers: Annotated[int, typer.Option(help="distinct customers (sizes are skewed)")] = 50,
    start: Annotated[
        str | None, typer.Option(help="back-date event times from here (sent unpaced)")
    ] = None,
    duplicates: Annotated[float, typer.Option(help="share of exact re-deliveries")] = 0.01,
    late: Annotated[float, typer.Option(help="share of first-time events hours late")] = 0.001,
    bad: Annotated[float, typer.Option(help="share of broken records")] = 0.0005,
    too_late: Annotated[float, typer.Option(help="share older than the max lateness")] = 0.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
    expected: Annotated[
        Path | None, typer.Option(help="write the exact expected counts here (JSON)")
    ] = None,
    top: Annotated[int, typer.Option(help="customer rows to print")] = 15,
) -> None:
    """Send synthetic notification traffic to the topic and print what was sent."""
    from esteira import endpoints
    from esteira.datagen.notifications import Spec, default_start, produce

    try:
        per_second = float(rate.strip().removesuffix("/s"))
    except ValueError:
        raise ConfigError(f"--rate: {rate!r} is not a rate (e.g. 1000 or 1000/s)") from None
    if per_second <= 0 or customers < 1:
        raise ConfigError("--rate must be > 0 and --customers >= 1")
    for name, share in (
        ("duplicates", duplicates),
        ("late", late),
        ("bad", bad),
        ("too-late", too_late),
    ):
        if not 0 <= share < 1:
            raise ConfigError(f"--{name} must be a share between 0 and 1, not {share}")
    begin = None
    if start is not None:
        try:
            begin = datetime.fromisoformat(start)
        except ValueError:
            raise ConfigError(f"--start: {start!r} is not an ISO date-time") from None
    settings = cli_common.settings()
    cfg = settings.notifications
    spec = Spec(
        rate=per_second,
        duration=parse_seconds(duration, "--duration"),
        customers=customers,
        start=default_start(begin),
        duplicates=duplicates,
        late=late,
        bad=bad,
        too_late=too_late,
        seed=seed,
        max_lateness_days=cfg.max_lateness_days,
    )
    tally = produce(
        endpoints.kafka_bootstrap(settings),
        cfg.topic,
        spec,
        partitions=cfg.partitions,
        send_rate=per_second if begin is None else None,
    )
    if expected is not None:
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(json.dumps(tally.as_dict(), ensure_ascii=False), encoding="utf-8")
    summary = Table(title=f"Enviadas ao tópico {cfg.topic}", show_header=False)
    summary.add_row("registros enviados", integer_br(tally.sent))
    for kind, label in _KIND_LABELS.items():
        summary.add_row(label, integer_br(tally.kinds.get(kind, 0)))
    summary.add_row("message_ids distintos contáveis", integer_br(tally.expected_total))
    output.print(summary)
    per = Table(title="message_ids distintos por cliente e canal")
    for col in ("customer_id", "cliente", "canal", "mensagens"):
        per.add_column(col)
    ranked = sorted(tally.per_customer_channel().items(), key=lambda kv: -kv[1])
    for (cid, name, channel), n in ranked[:top]:
        per.add_row(str(cid), name, channel, integer_br(n))
    if len(ranked) > top:
        per.add_row("...", f"+{len(ranked) - top} linhas", "", "")
    output.print(per)


@app.command("stream")
def stream_command(
    until_idle: Annotated[
        str | None, typer.Option(help="stop after this long without input, e.g. 30s")
    ] = None,
    progress_log: Annotated[
        Path | None, typer.Option(help="append each batch's Spark progress here (JSON lines)")
    ] = None,
) -> None:
    """Kafka -> Delta bronze/silver/gold, checkpointed (engine spark only)."""
    from esteira.notifications.job import StreamRequest, require_spark, run

    settings = cli_common.settings()
    require_spark(settings)
    request = StreamRequest(
        until_idle=parse_seconds(until_idle, "--until-idle") if until_idle else None,
        progress_log=progress_log,
    )
    totals = run(settings, cli_common.session(), request)
    output.print(
        f"stream parado: {integer_br(totals.batches)} lotes, {integer_br(totals.records)} "
        f"registros, {integer_br(totals.new_messages)} novas, "
        f"{integer_br(totals.duplicates)} reentregas, {integer_br(totals.rejected)} rejeitadas"
    )
    if until_idle:
        _print_usage(settings, cli_common.session(), top=20)


@app.command("usage")
def usage_command(
    top: Annotated[int, typer.Option(help="rows to print, largest first (0: all)")] = 0,
) -> None:
    """Per customer and channel: notifications counted in gold and the last update."""
    settings = cli_common.settings()
    _print_usage(settings, cli_common.session(), top)


def _print_usage(settings, session, top: int) -> None:
    from esteira.notifications.job import usage

    rows = usage(settings, session)
    hidden = len(rows) - top if top and len(rows) > top else 0
    rows = rows[:top] if top else rows
    table = Table(title="Painel de Notificações")
    for col in ("Cliente", "Canal", "Notificações", "Última atualização (UTC)"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["customer_name"],
            r["channel"],
            integer_br(r["notifications"]),
            datetime_br(r["updated_at"]),
        )
    if hidden:
        table.add_row(f"... +{integer_br(hidden)} linhas", "", "", "")
    output.print(table)


@app.command("report")
def report_command(
    customer: Annotated[str, typer.Option(help="customer_id, or the customer's exact name")],
    out: Annotated[Path, typer.Option(help="the report file (written whole or not at all)")],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="ISO date or date-time (local time without an offset); default: the first message",
        ),
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="ISO date (through its end) or date-time (exclusive)")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="txt (the seed's layout), csv, jsonl")
    ] = "txt",
) -> None:
    """Relatório Detalhado: one customer's messages in event-time order, from silver."""
    from esteira.logs import console
    from esteira.notifications.report import ReportRequest, run

    settings = cli_common.settings()
    request = ReportRequest.parse(customer, out, fmt, from_, to, settings.timezone)

    def progress(done: int, total: int) -> None:
        console.print(
            f"relatório: {integer_br(done)} de {integer_br(total)} mensagens", highlight=False
        )

    result = run(settings, cli_common.session(), request, progress)
    output.print(
        f"relatório de customer_id {result.customer_id}: "
        f"{integer_br(result.messages)} mensagens em {result.path}"
    )
