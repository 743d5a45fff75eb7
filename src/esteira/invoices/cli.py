"""`esteira invoices ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="invoices", no_args_is_help=True)
