"""`esteira quarantine ...` commands: build, check, filter (thin: parse, call job, print).

Results go to stdout (esteira.logs.output, typer.echo); logs and progress to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:
    from esteira.quarantine.job import BuildResult, CheckResult

app = typer.Typer(help="quarantine", no_args_is_help=True)

DateOpt = Annotated[
    str | None, typer.Option("--date", help="load date AAAA-MM-DD (default: today, São Paulo)")
]


@app.command("build")
def build(
    load_date: DateOpt = None,
    sources: Annotated[
        Path | None, typer.Option(help="folder of the local sources (quarantine.sources_dir)")
    ] = None,
) -> None:
    """Builds quarentena_global for the load date from every configured source."""
    from esteira.cli_common import session, settings
    from esteira.quarantine import job

    request = job.BuildRequest.parse(settings(), load_date, sources)
    _print_build(job.run(settings(), session(), request))


def _print_build(result: BuildResult) -> None:
    from esteira.formats import date_br, integer_br
    from esteira.logs import output

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
    output.print(table)
    warned = ", ".join(f"{k}: {integer_br(v)}" for k, v in result.warnings.items())
    typer.echo(f"avisos (linhas mantidas): {warned}")


@app.command("check")
def check(
    client_id: Annotated[str, typer.Option("--id", help="id_cliente to look up")],
    load_date: DateOpt = None,
) -> None:
    """Is this client in quarantine, on which channels, why and until when."""
    from esteira.cli_common import session, settings
    from esteira.quarantine import job

    request = job.CheckRequest.parse(settings(), client_id, load_date)
    _print_check(job.check(settings(), session(), request))


def _print_check(result: CheckResult) -> None:
    from esteira.formats import date_br

    day = date_br(result.load_date)
    if not result.in_quarantine:
        typer.echo(f"Cliente fora de quarentena em {day}: pode ser contatado.")
        return
    typer.echo(f"Cliente em quarentena em {day} em {len(result.rows)} canal(is):")
    for r in result.rows:
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

    request = job.FilterRequest.parse(
        settings(),
        audience=audience,
        channel=channel,
        out=out,
        suppressed_out=suppressed,
        load_date=load_date,
        delimiter=delimiter,
    )
    result = job.filter_audience(settings(), session(), request)
    typer.echo(f"{integer_br(result.allowed)} liberados -> {out}")
    typer.echo(f"{integer_br(result.suppressed)} suprimidos -> {suppressed}")
