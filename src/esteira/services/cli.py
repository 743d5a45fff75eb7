"""`esteira services ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="services", no_args_is_help=True)
