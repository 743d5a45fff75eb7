"""`esteira chatbot ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="chatbot", no_args_is_help=True)
