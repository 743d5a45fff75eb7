"""`esteira run all | step | list`: the batch systems of one day, in order, on this machine."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from esteira import cli_common
from esteira.formats import date_br, integer_br
from esteira.logs import output
from esteira.orchestrate.plan import plan, run_date
from esteira.orchestrate.runner import Outcome, run_steps

app = typer.Typer(help="Run the batch systems of a day, in order.", no_args_is_help=True)
DateOpt = Annotated[
    str | None, typer.Option("--date", help="run date AAAA-MM-DD (default: today, São Paulo)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON line per step, not a table")]
UNAVAILABLE = 99  # `run step` of a step this build lacks: Airflow's BashOperator skips on 99
_LABELS = {"succeeded": "ok", "failed": "FALHOU", "skipped": "pulada"}


@app.command("all")
def all_command(
    day: DateOpt = None,
    only: Annotated[
        str | None, typer.Option(help="only these steps, comma-separated, in this order")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every enabled step of run.steps, in order; a failed step does not stop the next.
    Exit status 1 when any step failed."""
    settings = cli_common.settings()
    when = run_date(settings, day)
    names = [n.strip() for n in only.split(",") if n.strip()] if only else None
    outcomes = run_steps(plan(settings, when, names))
    _report(outcomes, when, as_json)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


@app.command("step")
def step_command(
    name: Annotated[str, typer.Argument(help="a step of run.steps, e.g. quarantine")],
    day: DateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One step, as `run all` runs it (to rerun a step, or a step of another day).
    Exit status 1 when it failed, 99 when it is disabled or this build lacks its command
    (a scheduler's task is then skipped)."""
    settings = cli_common.settings()
    when = run_date(settings, day)
    [outcome] = run_steps(plan(settings, when, [name]))
    _report([outcome], when, as_json)
    if outcome.status == "failed":
        raise typer.Exit(1)
    if outcome.status == "skipped":
        raise typer.Exit(UNAVAILABLE)


@app.command("list")
def list_command(day: DateOpt = None, as_json: JsonOpt = False) -> None:
    """The steps `run all` would run for the date, with their command lines."""
    settings = cli_common.settings()
    when = run_date(settings, day)
    steps = plan(settings, when)
    if as_json:
        for s in steps:
            typer.echo(json.dumps({"step": s.name, "argv": s.argv, "after": s.after,
                                   "available": s.available}, ensure_ascii=False))
        return
    table = Table(title=f"esteira run all em {date_br(when)}")
    for col in ("etapa", "comando", "depois de", "disponível"):
        table.add_column(col)
    for s in steps:
        table.add_row(s.name, s.command_line, ", ".join(s.after) or "-",
                      "sim" if s.available else "não (ainda não existe)")
    output.print(table, soft_wrap=True)


@app.command("stream-health")
def stream_health_command(
    max_behind: Annotated[
        int | None, typer.Option(help="records behind the topic's end that are still healthy "
                                 "(default: alerts.stream_max_offsets_behind)")
    ] = None,
    max_idle: Annotated[
        float, typer.Option(help="minutes without a batch while records wait: stopped")
    ] = 15.0,
    alert: Annotated[bool, typer.Option(help="post an alert when unhealthy")] = False,
) -> None:
    """Is the notifications stream keeping up? Exit 0 when it is, 1 when it is behind or
    stopped (for a scheduler's sensor, or cron with --alert)."""
    from datetime import UTC, datetime

    from esteira import alerts
    from esteira.orchestrate.health import stream_health

    settings = cli_common.settings()
    limit = settings.alerts.stream_max_offsets_behind if max_behind is None else max_behind
    health = stream_health(settings)
    idle = health.idle_minutes(datetime.now(UTC)) or 0.0
    stopped = health.behind > 0 and idle > max_idle
    output.print(f"stream {health.topic}: {integer_br(health.behind)} registros atrás "
                 f"(limite {integer_br(limit)}); último lote há {idle:.0f} min", soft_wrap=True)
    if health.behind <= limit and not stopped:
        return
    kind = "stream_stopped" if stopped else "stream_behind"
    if alert:
        alerts.send(kind, f"the notifications stream is {health.behind} records behind, "
                    f"last batch {idle:.0f} min ago", stream="notifications",
                    offsets_behind=health.behind, threshold=limit, idle_minutes=round(idle, 1))
    raise typer.Exit(1)


def _report(outcomes: list[Outcome], when, as_json: bool) -> None:
    if as_json:
        for o in outcomes:
            typer.echo(json.dumps(o.as_dict(), ensure_ascii=False))
        return
    table = Table(title=f"esteira run em {date_br(when)}")
    for col in ("etapa", "situação", "tempo (s)", "entrada", "saída", "rejeitadas"):
        table.add_column(col, justify="left" if col in ("etapa", "situação") else "right")
    for o in outcomes:
        table.add_row(o.step, _LABELS[o.status], f"{o.seconds:.1f}".replace(".", ","),
                      _count(o.rows_in), _count(o.rows_out), _count(o.rejected))
    output.print(table)
    for o in outcomes:  # below the table: a reason is a whole line, never cut by the width
        if o.reason:
            output.print(f"{o.step} ({_LABELS[o.status]}): {o.reason}", soft_wrap=True)
    failed = [o.step for o in outcomes if o.status == "failed"]
    ran = sum(o.status != "skipped" for o in outcomes)
    output.print(f"{ran} de {len(outcomes)} etapas rodaram; "
                 + (f"falharam: {', '.join(failed)}" if failed else "nenhuma falhou"))


def _count(value: int | None) -> str:
    return "-" if value is None else integer_br(value)
