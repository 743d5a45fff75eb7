"""`esteira warehouse ...` commands (SiCooperative)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from esteira.cli_common import session, settings
from esteira.formats import integer_br, pipe_table

if TYPE_CHECKING:
    from esteira.warehouse.job import WarehouseResult

app = typer.Typer(help="SiCooperative warehouse", no_args_is_help=True)


@app.command("run")
def run(
    step: Annotated[
        str | None, typer.Option(help="only this step: raw, trusted, dims, facts or extract")
    ] = None,
    on: Annotated[
        str | None, typer.Option("--date", help="load date YYYY-MM-DD (idade as of it)")
    ] = None,
) -> None:
    """The chain raw -> trusted -> dims -> facts -> extract (or one step of it)."""
    from esteira.warehouse import job

    request = job.WarehouseRequest.parse(settings().warehouse, step=step, on=on)
    _print(job.run(settings(), session(), request))


@app.command("status")
def status() -> None:
    """Each warehouse table's rows, last load and high-water mark."""
    from esteira.warehouse import targets

    needs_engine = settings().warehouse.target == "delta"
    rows = targets.status(settings(), session() if needs_engine else None)
    typer.echo(pipe_table(
        ["tabela", "linhas", "ultima_carga", "high_water_mark"],
        [[r["tabela"], "-" if r["linhas"] is None else integer_br(r["linhas"]),
          _when(r["ultima_carga"]), _when(r["high_water_mark"])] for r in rows],
    ))


@app.command("reset")
def reset(
    yes: Annotated[bool, typer.Option("--yes", help="really drop the warehouse's tables")]
    = False,
) -> None:
    """Drops every warehouse table, so that the next run is a full load."""
    from esteira.errors import ConfigError
    from esteira.warehouse import targets

    if not yes:
        raise ConfigError("warehouse reset drops every warehouse table: add --yes")
    needs_engine = settings().warehouse.target == "delta"
    targets.reset(settings(), session() if needs_engine else None)
    typer.echo("warehouse tables dropped")


@app.command("history")
def history(
    associado: Annotated[int, typer.Option("--associado", help="the associado's id")],
) -> None:
    """The versions of one associado in dim_associado (tracked columns only)."""
    from esteira.warehouse import targets

    columns = ["sk_associado", "idade", "estado_civil", "escolaridade", "valid_from",
               "valid_to", "atual"]
    rows = targets.history(settings(), session(), associado)
    typer.echo(pipe_table(columns, [[_when(r[c]) for c in columns] for r in rows]))


def _when(value: object) -> str:
    if value is None:
        return "-"
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ", timespec="seconds")  # type: ignore[call-arg]
    return str(value)


def _print(result: WarehouseResult) -> None:
    """Per step: what it read, wrote and rejected (the command's result: stdout)."""
    for outcome in result.steps:
        parts = [f"{t} {integer_br(n)}" for t, n in outcome.wrote.items()]
        rejected = sum(outcome.rejected.values())
        line = f"{outcome.step}: wrote " + (", ".join(parts) or "nothing")
        if rejected:
            line += f"; rejected {integer_br(rejected)}"
        typer.echo(line)
        for warning in outcome.warnings:
            typer.echo(f"  warning: {warning}")
    if result.flat_file is not None:
        typer.echo(f"flat file -> {result.flat_file}")
