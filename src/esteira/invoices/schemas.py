"""Invoice columns and the decimal types the averages are computed in (never float)."""

from __future__ import annotations

from pyspark.sql.types import DecimalType

KEYS = ("customer", "account")
INPUT_COLUMNS = ("customer", "account", "month", "invoice")
# Amounts keep up to 6 decimal places on the way in; averages are cents, truncated.
AMOUNT_TYPE = DecimalType(24, 6)
AVERAGE_TYPE = DecimalType(20, 2)


def average_column(months: int) -> str:
    """avg_invoices_last_3_months: the seed's name for a window of `months` months."""
    return f"avg_invoices_last_{months}_months"
