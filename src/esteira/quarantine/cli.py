"""`esteira quarantine ...` commands: build, check, filter (thin: parse, call job, print)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from esteira.errors import InputError

app = typer.Typer(help="quarantine", no_args_is_help=True)

DateOpt = Annotated[
    str | None, typer.Option("--date", help="load date AAAA-MM-DD (default: today, São Paulo)")
]


def parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError("--date", f"{value!r} is not a date (use AAAA-MM-DD)") from None


@app.command("build")
def build(
    load_date: DateOpt = None,
    sources: Annotated[
        Path | None, typer.Option(help="folder of the local sources (quarantine.sources_dir)")
    ] = None,
) -> None:
    """Builds quarentena_global for the load date from every configured source."""
    from rich.console import Console

    from esteira.cli_common import session, settings
    from esteira.formats import date_br, integer_br
    from esteira.quarantine import job

    result = job.run(settings(), session(), parse_date(load_date), sources)
    table = Table(title=f"quarentena_global em {date_br(result.load_date)}")
    for col in ("canal", "lidos", "rejeitados", "em quarentena"):
        table.add_column(col, justify="left" if col == "canal" else "right")
    for c in result.channels:
        table.add_row(
            c.canal, integer_br(c.lidos), integer_br(c.rejeitados), integer_br(c.em_quarentena)
        )
    table.add_row(
        "total",
        integer_br(sum(c.lidos for c in result.channels)),
        integer_br(sum(c.rejeitados for c in result.channels)),
        integer_br(result.total),
    )
    Console().print(table)
    warned = ", ".join(f"{k}: {integer_br(v)}" for k, v in result.warnings.items())
    typer.echo(f"avisos (linhas mantidas): {warned}")


@app.command("check")
def check(
    client_id: Annotated[str, typer.Option("--id", help="id_cliente to look up")],
    load_date: DateOpt = None,
) -> None:
    """Is this client in quarantine, on which channels, why and until when."""
    from esteira.cli_common import session, settings
    from esteira.formats import date_br
    from esteira.quarantine import job

    day, rows = job.check(settings(), session(), client_id, parse_date(load_date))
    if not rows:
        typer.echo(f"Cliente fora de quarentena em {date_br(day)}: pode ser contatado.")
        return
    typer.echo(f"Cliente em quarentena em {date_br(day)} em {len(rows)} canal(is):")
    for r in rows:
        until = (
            f"livre a partir de {date_br(r['saida_prevista'])}"
            if r["saida_prevista"]
            else "até a exclusão na origem"
        )
        typer.echo(
            f"  {r['canal']}: {r['assunto'] or '-'}; enviado em {date_br(r['data_envio'])}, {until}"
        )


@app.command("filter")
def filter_(
    audience: Annotated[Path, typer.Option(help="campaign list: csv or parquet with id_cliente")],
    channel: Annotated[str, typer.Option(help="the campaign's canal, e.g. Marketing")],
    out: Annotated[Path, typer.Option(help="who may be contacted (.csv or .parquet)")],
    suppressed: Annotated[Path, typer.Option(help="who may not, with motivo and saida_prevista")],
    load_date: DateOpt = None,
    delimiter: Annotated[str, typer.Option(help="csv delimiter of the files")] = ",",
) -> None:
    """Splits a campaign list by the quarantine of the load date."""
    from esteira.cli_common import session, settings
    from esteira.formats import integer_br
    from esteira.quarantine import job

    allowed, blocked = job.filter_audience(
        settings(), session(), audience, channel, out, suppressed, parse_date(load_date), delimiter
    )
    typer.echo(f"{integer_br(allowed)} liberados -> {out}")
    typer.echo(f"{integer_br(blocked)} suprimidos -> {suppressed}")
