"""`esteira serve`: the dashboard (read-only; loopback unless told otherwise)."""

from __future__ import annotations

from typing import Annotated

import typer

from esteira import cli_common
from esteira.logs import console


def serve_command(
    host: Annotated[str | None, typer.Option(help="address to listen on (default "
                                             "web.host: 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default web.port: 8000)")] = None,
) -> None:
    """Serve the Painel de Notificações: customers' counts (refreshing by themselves), a
    customer's per-minute chart, report and bill downloads; JSON API at /docs."""
    import uvicorn

    from esteira.web.app import create_app

    settings = cli_common.settings()
    host = host or settings.web.host
    port = port or settings.web.port
    app = create_app(settings)
    console.print(f"Painel de Notificações em http://{host}:{port}/ (API: /docs); "
                  "Ctrl+C para parar")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
