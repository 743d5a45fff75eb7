"""`esteira chatbot ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from esteira.cli_common import session, settings
from esteira.formats import integer_br, pipe_table

if TYPE_CHECKING:
    from esteira.chatbot.job import AnswersResult

app = typer.Typer(help="chatbot", no_args_is_help=True)


@app.command("answers")
def answers(
    input: Annotated[Path, typer.Option("--input", help="folder of hour=HH.json files")],
    out: Annotated[Path, typer.Option("--out", help="folder for the answer tables")],
    hours: Annotated[str | None, typer.Option(help="only these hours, e.g. 13,14")] = None,
    date: Annotated[
        str | None, typer.Option("--date", help="only these date folders, e.g. 2019-12-16")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="CSV for unusable events (default OUT/rejects.csv)")
    ] = None,
) -> None:
    """Latest answers of each chatbot session: one table per flow, plus a long table."""
    from esteira.chatbot import job

    request = job.AnswersRequest.parse(
        input=input, out=out, hours=hours, dates=date, rejects=rejects
    )
    _print(job.run(settings(), session(), request), out)


def _print(result: AnswersResult, out: Path) -> None:
    """Each flow's table and the summary line are the command's result: stdout."""
    for flow in result.flows:
        rows = [["" if r[c] is None else str(r[c]) for c in flow.columns] for r in flow.preview]
        shown = f", first {len(rows)} shown" if len(rows) < flow.sessions else ""
        plural = "" if flow.sessions == 1 else "s"
        typer.echo(f"\nflow {flow.flow} ({integer_br(flow.sessions)} session{plural}{shown})")
        typer.echo(pipe_table(flow.columns, rows))
    typer.echo(
        f"{integer_br(result.events)} events from {result.files} file(s); "
        f"{integer_br(result.answers)} answers -> {out}; "
        f"{integer_br(result.rejected)} rejected -> {result.rejects}"
    )
