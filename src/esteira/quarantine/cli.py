"""`esteira quarantine ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="quarantine", no_args_is_help=True)
