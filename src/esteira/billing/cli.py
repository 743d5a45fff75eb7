"""`esteira notifications billing`: the daily bill (registered on the notifications
sub-app by esteira.cli; billing itself imports nothing of notifications)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from esteira import cli_common
from esteira.billing.render import money
from esteira.formats import integer_br
from esteira.logs import output

_STATUS = {
    "draft": "rascunho (substituído até o fim da carência)",
    "final": "final",
    "adjusted": "já final: diferença lançada como ajuste na próxima fatura aberta",
    "unchanged": "já final: sem diferença",
}


def billing_command(
    date: Annotated[str, typer.Option(help="the billing day: YYYY-MM-DD, yesterday or today")],
    out: Annotated[
        Path | None, typer.Option(help="folder of the txt/csv (default <billing root>/reports)")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="run as if now were this ISO instant (draft or final is decided against it)"
        ),
    ] = None,
) -> None:
    """Relatório de Cobrança: per customer and channel, a day's distinct notifications,
    price and amount (draft until the grace period ends, then final)."""
    from esteira.billing.job import BillingRequest, run

    settings = cli_common.settings()
    request = BillingRequest.parse(date, settings.billing.timezone, as_of, out)
    result = run(settings, cli_common.session(), request)
    customers = len({r["customer_id"] for r in result.lines})
    output.print(
        f"cobrança de {result.day.isoformat()}: {_STATUS[result.status]}; "
        f"{integer_br(customers)} clientes, {integer_br(result.notifications)} notificações, "
        f"{money(result.amount_centavos)}"
    )
    for adj in result.adjustments:
        output.print(
            f"ajuste na fatura de {adj['billing_date'].isoformat()}: customer_id "
            f"{adj['customer_id']} {adj['channel']} {adj['notifications']:+d} "
            f"notificações, {money(adj['amount_centavos'])}"
        )
    for path in result.files:
        output.print(f"arquivo: {path}")
