"""`esteira invoices ...` commands."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from esteira.cli_common import session, settings
from esteira.formats import integer_br, number_br, pipe_table

if TYPE_CHECKING:
    from esteira.invoices.job import AveragesResult

app = typer.Typer(help="invoices", no_args_is_help=True)


@app.command("averages")
def averages(
    input: Annotated[Path, typer.Option("--input", help="invoices: CSV, Parquet or Delta")],
    out: Annotated[Path, typer.Option("--out", help="where the averages go")],
    reference: Annotated[
        str | None, typer.Option(help="reference month YYYY-MM (excluded from windows)")
    ] = None,
    windows: Annotated[str | None, typer.Option(help="months per average, e.g. 3,6")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv (one file), parquet or delta")] = "csv",
    rejects: Annotated[
        Path | None, typer.Option(help="CSV for bad rows (else one bad row stops the run)")
    ] = None,
    show_values: Annotated[
        bool, typer.Option(help="print customer and account in the preview (masked by default)")
    ] = False,
) -> None:
    """Average invoice of each account over the last N months before --reference."""
    from esteira.invoices import job

    request = job.AveragesRequest.parse(
        settings().invoices,
        input=input,
        out=out,
        reference=reference,
        windows=windows,
        fmt=fmt,
        rejects=rejects,
    )
    _print(job.run(settings(), session(), request), show_values)


MASK = "***"


def _print(result: AveragesResult, show_values: bool = False) -> None:
    """The table and the summary lines are the command's result: stdout.

    A scheduler keeps stdout in its task logs, so customer and account (a CPF, an
    account number) are masked unless --show-values asks for them."""
    rows = [
        [str(r[c]) if show_values else MASK for c in result.columns[:2]]
        + [_number(r[c]) for c in result.columns[2:]]
        for r in result.preview
    ]
    typer.echo(pipe_table(result.columns, rows))
    shown = f" (first {len(rows)} shown)" if len(rows) < result.accounts else ""
    typer.echo(f"{integer_br(result.accounts)} accounts{shown} -> {result.out}")
    if result.rejects is not None:
        typer.echo(f"{integer_br(result.rejected)} rows rejected -> {result.rejects}")


def _number(value: object) -> str:
    """Averages as people read them here: 56.333,33; null stays 'null' as in the seed."""
    if value is None or value == "":
        return "null"
    return number_br(Decimal(str(value)))
