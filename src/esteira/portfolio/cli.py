"""`esteira portfolio ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from esteira import cli_common
from esteira.formats import integer_br
from esteira.logs import output as console

app = typer.Typer(help="Client-portfolio distribution (carteira).", no_args_is_help=True)


@app.command("assign")
def assign(
    clients: Annotated[str, typer.Option(help="clients: Delta/Parquet/CSV path or table")],
    managers: Annotated[str, typer.Option(help="managers: Delta/Parquet/CSV path or table")],
    out: Annotated[Path, typer.Option(help="output folder (Delta tables + summary.json)")],
    previous: Annotated[
        str | None, typer.Option(help="the last assignment: clients keep their manager")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="random order seed (default: config)")] = None,
    limit: Annotated[
        int | None, typer.Option(help="clients per manager (default: config, 1473)")
    ] = None,
) -> None:
    """Deal every client to exactly one manager of the same chave_unica, balanced."""
    from esteira.portfolio.job import AssignRequest, run

    request = AssignRequest(clients, managers, out, previous, seed, limit)
    summary = run(cli_common.settings(), cli_common.session(), request)
    print_summary(summary, out)


def print_summary(summary: dict[str, Any], out: Path) -> None:
    table = Table(title="Distribuição de carteira", show_header=False)
    rows = [
        ("clientes lidos", summary["clients_read"]),
        ("descartados (chave_unica nula)", summary["clients_dropped_null_key"]),
        ("rejeitados", summary["rejected"]),
        ("atribuídos", summary["assigned"]),
        (
            "  mantidos / realocados / novos",
            f"{integer_br(summary['kept'])} / {integer_br(summary['moved'])} / "
            f"{integer_br(summary['new'])}",
        ),
        ("sem gerente", summary["unassigned"]),
        ("gerentes", summary["managers_read"]),
        ("carga mín / máx", f"{summary['load_min']} / {summary['load_max']}"),
        ("máx - mín (geral)", summary["load_spread"]),
    ]
    spreads = [k["carga_max"] - k["carga_min"] for k in summary["per_key"]]
    worst = max(spreads or [0])
    rows.append(("chaves / maior (máx - mín) numa chave", f"{len(spreads)} / {worst}"))
    for label, value in rows:
        table.add_row(label, integer_br(value) if isinstance(value, int) else str(value))
    console.print(table)
    console.print(f"saída: {out} (assignment, unassigned, rejects, summary.json)")
