"""Brazilian formats for what people read: R$ 1.000,00, 56.333,33, dd/mm/aaaa (babel).

Files and APIs keep ISO dates and dot decimals; only printed tables, dashboards and
reports use these helpers. Money follows CLDR's pt_BR pattern: a no-break space after
R$, so a value never wraps from its symbol.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

LOCALE = "pt_BR"


def number_br(value: Decimal | float | int | None, decimals: int = 2, null: str = "null") -> str:
    """56333.33 -> '56.333,33' (thousands with '.', decimals with ',')."""
    if value is None:
        return null
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(Decimal(str(value)), format=pattern, locale=LOCALE)


def integer_br(value: int | None, null: str = "-") -> str:
    """1234567 -> '1.234.567'."""
    return null if value is None else format_decimal(value, format="#,##0", locale=LOCALE)


def money_br(value: Decimal | float | int | None, null: str = "-") -> str:
    """1000 -> 'R$ 1.000,00'."""
    if value is None:
        return null
    return format_currency(Decimal(str(value)), "BRL", locale=LOCALE)


def date_br(value: date | datetime | None, null: str = "-") -> str:
    """2024-05-28 -> '28/05/2024'."""
    return null if value is None else format_date(value, "dd/MM/yyyy", locale=LOCALE)


def datetime_br(value: datetime | None, null: str = "-", seconds: bool = True) -> str:
    """2020-02-03 15:00:00 -> '03/02/2020 15:00:00' (or '03/02/2020 15:00')."""
    if value is None:
        return null
    pattern = "dd/MM/yyyy HH:mm:ss" if seconds else "dd/MM/yyyy HH:mm"
    return format_datetime(value, pattern, locale=LOCALE)


def pipe_table(columns: list[str], rows: list[list[str]]) -> str:
    """A Markdown pipe table, the shape the seed prints its expected results in."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
