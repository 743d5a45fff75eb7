"""`esteira portfolio ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from esteira import cli_common
from esteira.formats import integer_br
from esteira.logs import output

if TYPE_CHECKING:
    from esteira.portfolio.job import AssignResult

app = typer.Typer(help="Client-portfolio distribution (carteira).", no_args_is_help=True)


@app.command("assign")
def assign(
    clients: Annotated[str, typer.Option(help="clients: Delta/Parquet/CSV path or table")],
    managers: Annotated[str, typer.Option(help="managers: Delta/Parquet/CSV path or table")],
    out: Annotated[Path, typer.Option(help="output folder (Delta tables + summary.json)")],
    previous: Annotated[
        str | None, typer.Option(help="the last assignment: clients keep their manager")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="random order seed (default: portfolio.seed)")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="clients per manager (default: portfolio.limit_clients)")
    ] = None,
) -> None:
    """Deal every client to exactly one manager of the same chave_unica, balanced."""
    from esteira.portfolio.job import AssignRequest, run

    settings = cli_common.settings()
    request = AssignRequest.parse(settings.portfolio, clients, managers, out, previous, seed, limit)
    print_result(run(settings, cli_common.session(), request))


def print_result(result: AssignResult) -> None:
    """The run's figures as a table, on stdout."""
    table = Table(title="Distribuição de carteira", show_header=False)
    rows = [
        ("clientes lidos", result.clients_read),
        ("descartados (chave_unica nula)", result.clients_dropped_null_key),
        ("rejeitados", result.rejected),
        ("atribuídos", result.assigned),
        (
            "  mantidos / realocados / novos",
            f"{integer_br(result.kept)} / {integer_br(result.moved)} / {integer_br(result.new)}",
        ),
        ("sem gerente", result.unassigned),
        ("gerentes", result.managers_read),
        ("carga mín / máx", f"{result.load_min} / {result.load_max}"),
        ("máx - mín (geral)", result.load_spread),
    ]
    spreads = [k.carga_max - k.carga_min for k in result.per_key]
    worst = max(spreads or [0])
    rows.append(("chaves / maior (máx - mín) numa chave", f"{len(spreads)} / {worst}"))
    for label, value in rows:
        table.add_row(label, integer_br(value) if isinstance(value, int) else str(value))
    output.print(table)
    output.print(f"saída: {result.out} (assignment, unassigned, rejects, summary.json)")
