"""`esteira chatbot ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from esteira.chatbot.schemas import BOUNDS
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
    show_values: Annotated[
        bool,
        typer.Option(help="print customers and answers in the preview (masked by default)"),
    ] = False,
) -> None:
    """Latest answers of each chatbot session: one table per flow, plus a long table."""
    from esteira.chatbot import job

    request = job.AnswersRequest.parse(
        input=input, out=out, hours=hours, dates=date, rejects=rejects
    )
    _print(job.run(settings(), session(), request), out, show_values)


# Columns a preview shows as they are: the flow, the session id and the answer times.
# Every other column (the customer, each answer) may hold a name, a CPF, a phone.
PLAIN_COLUMNS = frozenset({"flow", "session", *BOUNDS})
MASK = "***"


def _cell(value: object, column: str, show_values: bool) -> str:
    if value is None:
        return ""
    return str(value) if show_values or column in PLAIN_COLUMNS else MASK


def _print(result: AnswersResult, out: Path, show_values: bool = False) -> None:
    """Each flow's table and the summary line are the command's result: stdout.

    A scheduler keeps stdout in its task logs, so the preview masks the customer and the
    answers unless --show-values asks for them (the files under OUT hold them all)."""
    for flow in result.flows:
        rows = [[_cell(r[c], c, show_values) for c in flow.columns] for r in flow.preview]
        shown = f", first {len(rows)} shown" if len(rows) < flow.sessions else ""
        plural = "" if flow.sessions == 1 else "s"
        typer.echo(f"\nflow {flow.flow} ({integer_br(flow.sessions)} session{plural}{shown})")
        typer.echo(pipe_table(flow.columns, rows))
    typer.echo(
        f"{integer_br(result.events)} events from {result.files} file(s); "
        f"{integer_br(result.answers)} answers -> {out}; "
        f"{integer_br(result.rejected)} rejected -> {result.rejects}"
    )
