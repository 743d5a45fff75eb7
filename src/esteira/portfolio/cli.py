"""`esteira portfolio ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="portfolio", no_args_is_help=True)
