"""`esteira datagen ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="datagen", no_args_is_help=True)
