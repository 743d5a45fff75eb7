"""Brazilian formats for what people read: R$ 1.000,00, 56.333,33, dd/mm/aaaa.

Files keep ISO dates and dot decimals; only printed tables, dashboards and reports use
these helpers.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal


def number_br(value: Decimal | float | int | None, decimals: int = 2, null: str = "null") -> str:
    """56333.33 -> '56.333,33' (thousands with '.', decimals with ',')."""
    if value is None:
        return null
    text = f"{Decimal(str(value)):,.{decimals}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def integer_br(value: int | None, null: str = "-") -> str:
    """1234567 -> '1.234.567'."""
    return null if value is None else f"{value:,}".replace(",", ".")


def money_br(value: Decimal | float | int | None, null: str = "-") -> str:
    """1000 -> 'R$ 1.000,00'."""
    return null if value is None else f"R$ {number_br(value, 2)}"


def date_br(value: date | datetime | None, null: str = "-") -> str:
    """2024-05-28 -> '28/05/2024'."""
    return null if value is None else value.strftime("%d/%m/%Y")


def datetime_br(value: datetime | None, null: str = "-") -> str:
    """2020-02-03 15:00:00 -> '03/02/2020 15:00:00'."""
    return null if value is None else value.strftime("%d/%m/%Y %H:%M:%S")


def pipe_table(columns: list[str], rows: list[list[str]]) -> str:
    """A Markdown pipe table, the shape the seed prints its expected results in."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
