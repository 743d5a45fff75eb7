"""Routes of the daily bills: a customer's billing lines (JSON) and a day's bill as the
seed's txt or as CSV, rendered by esteira.billing.render from the billing Delta table's
rows (read with delta-rs; the bill is computed only by `esteira notifications billing`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from esteira.billing.render import STATUS_LABELS, render_bill_csv, render_bill_txt
from esteira.web.queries import Queries

router = APIRouter()


class BillLine(BaseModel):
    billing_date: date
    customer_id: int
    customer_name: str
    channel: str
    line_type: str  # usage | adjustment
    adjusted_date: date | None
    notifications: int
    unit_price: Decimal | None
    amount: Decimal  # R$, two decimals (amount_centavos / 100)
    amount_centavos: int
    status: str  # draft | final
    reason: str | None
    computed_at: datetime | None


def _line(row: dict[str, Any]) -> BillLine:
    fields = {k: row.get(k) for k in BillLine.model_fields if k != "amount"}
    return BillLine(amount=_reais(row["amount_centavos"]), **fields)


def _reais(centavos: int) -> Decimal:
    return (Decimal(int(centavos)) / 100).quantize(Decimal("0.01"))


@router.get("/api/customers/{customer_id}/bills", response_model=list[BillLine],
            tags=["billing"])
def bills_api(request: Request, customer_id: int) -> list[BillLine]:
    """The customer's billing lines, newest day first (draft until the grace period
    ends, then final; adjustments correct an earlier final day)."""
    return [_line(r) for r in request.app.state.queries.bills_of(customer_id)]


@router.get("/customers/{customer_id}/bill", tags=["billing"],
            response_class=PlainTextResponse)
def bill_download(request: Request, customer_id: int, day: date,
                  format: Literal["txt", "csv"] = "txt") -> PlainTextResponse:
    """One day's bill of one customer: the seed's layout (txt) or CSV."""
    rows = request.app.state.queries.bills_of(customer_id, day)
    if not rows:
        raise HTTPException(404, f"no bill for customer {customer_id} on {day.isoformat()}: "
                            "run `esteira notifications billing --date` for that day")
    text = render_bill_txt(rows) if format == "txt" else render_bill_csv(rows)
    name = f"cobranca_{customer_id}_{day.isoformat()}.{format}"
    media = "text/plain; charset=utf-8" if format == "txt" else "text/csv; charset=utf-8"
    return PlainTextResponse(text, media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def bills_for_page(queries: Queries, customer_id: int) -> list[dict[str, Any]]:
    """One entry per billing day (newest first): its lines, total in centavos, status."""
    days: dict[date, dict[str, Any]] = {}
    for row in queries.bills_of(customer_id):
        day = days.setdefault(row["billing_date"], {
            "day": row["billing_date"], "lines": [], "centavos": 0, "statuses": set()})
        day["lines"].append(row)
        day["centavos"] += int(row["amount_centavos"])
        day["statuses"].add(row["status"])
    for day in days.values():
        day["status"] = "/".join(STATUS_LABELS.get(s, s) for s in sorted(day.pop("statuses")))
        day["amount"] = _reais(day["centavos"])
    return list(days.values())
