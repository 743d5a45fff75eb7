"""The bill as people read it (txt in the seed's layout) and as programs read it (CSV).

Pure Python over billing-table rows (dicts), no Spark: the billing job writes its files
with these functions and the dashboard renders a customer's bill from rows it reads
with delta-rs. `day_bounds` says what a billing day is: local midnight to local
midnight in the billing time zone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

STATUS_LABELS = {"draft": "rascunho", "final": "final"}
CSV_COLUMNS = (
    "billing_date",
    "customer_id",
    "customer_name",
    "channel",
    "line_type",
    "adjusted_date",
    "notifications",
    "price_mode",
    "unit_price",
    "amount",
    "status",
    "reason",
    "content_hash",
)


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of the local day `day` in zone `tz`, as UTC datetimes (a day of
    23 or 25 hours where the zone changes its clocks)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def money(centavos: int) -> str:
    """12345 -> 'R$ 123,45', -48 -> '-R$ 0,48': babel's pt_BR pattern (formats.money_br,
    checked equal in the tests) with a plain space, as integer arithmetic: babel takes
    about 1 ms a value, seconds for a day of 5,000 customers."""
    sign, value = ("-" if centavos < 0 else ""), abs(int(centavos))
    return f"{sign}R$ {value // 100:,}".replace(",", ".") + f",{value % 100:02d}"


def _day(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _order(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(
        rows,
        key=lambda r: (
            _day(r["billing_date"]),
            str(r["customer_name"]),
            int(r["customer_id"]),
            r["line_type"] != "usage",
            _day(r.get("adjusted_date")),
            str(r["channel"]),
        ),
    )


def render_bill_txt(rows: Iterable[Mapping[str, Any]]) -> str:
    """One block per (billing day, customer), blank line between blocks:

        Relatório de Cobrança
        Cliente: Acme
        Notificações Whatsapp: 25000
        Ajuste 2020-02-01 Whatsapp: +12 notificações, R$ 0,48 (reason)
        Valor: R$ 1.000,00
        Data: 2020-02-03
        Situação: rascunho

    The seed's five lines, plus an adjustment line per correction of an earlier final
    day and the bill's status. Valor is the block's total, adjustments included.
    """
    blocks = []
    ordered = _order(rows)
    for (day, _customer), group in groupby(
        ordered, key=lambda r: (_day(r["billing_date"]), int(r["customer_id"]))
    ):
        lines = list(group)
        name = lines[-1]["customer_name"]
        text = ["Relatório de Cobrança", f"Cliente: {name}"]
        for line in lines:
            if line["line_type"] == "usage":
                text.append(f"Notificações {line['channel']}: {int(line['notifications'])}")
            else:
                text.append(
                    f"Ajuste {_day(line['adjusted_date'])} {line['channel']}: "
                    f"{int(line['notifications']):+d} notificações, "
                    f"{money(line['amount_centavos'])} ({line['reason']})"
                )
        total = sum(int(line["amount_centavos"]) for line in lines)
        status = "final" if all(line["status"] == "final" for line in lines) else "draft"
        text += [f"Valor: {money(total)}", f"Data: {day}", f"Situação: {STATUS_LABELS[status]}"]
        blocks.append("\n".join(text) + "\n")
    return "\n".join(blocks)


def render_bill_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Header + one row per billing line: ISO dates, amount in reais with a dot."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in _order(rows):
        writer.writerow(
            [
                _day(r["billing_date"]),
                int(r["customer_id"]),
                r["customer_name"],
                r["channel"],
                r["line_type"],
                _day(r.get("adjusted_date")),
                int(r["notifications"]),
                r.get("price_mode") or "",
                _plain(r.get("unit_price")),
                f"{Decimal(int(r['amount_centavos'])) / 100:.2f}",
                r["status"],
                r.get("reason") or "",
                r.get("content_hash") or "",
            ]
        )
    return buffer.getvalue()


def _plain(value: Any) -> str:
    if value is None:
        return ""
    return format(Decimal(str(value)).normalize(), "f")
