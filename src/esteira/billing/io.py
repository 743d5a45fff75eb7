"""Reads and writes of the daily bill.

Inputs are the notification stream's Delta tables, found through settings only
(`settings.notifications.folder(home)`: billing does not import notifications):
gold (per-minute counts, what the bill counts) and silver (one row per message, what
the bill is reconciled against). Output, under `billing.root` (default <home>/billing):
  bills/               Delta, one row per billing day, customer, channel and line
                       (partition billing_date); each run replaces the partitions it
                       changes in ONE commit (replaceWhere), so a failed run changes none
  reports/cobranca_<day>.txt|.csv   the day's bill, for people and for programs
"""

from __future__ import annotations

from datetime import UTC, date
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.billing.render import render_bill_csv, render_bill_txt
from esteira.connectors import delta, files
from esteira.errors import InputError
from esteira.settings import Settings

BILLS_SCHEMA = (
    "billing_date date, customer_id long, customer_name string, channel string, "
    "line_type string, adjusted_date date, notifications long, price_mode string, "
    "unit_price decimal(18,6), amount_centavos long, status string, reason string, "
    "content_hash string, computed_at timestamp, final_after timestamp"
)
PARTITIONS = ["billing_date"]
ARROW_SCHEMA = pa.schema(
    [
        ("billing_date", pa.date32()),
        ("customer_id", pa.int64()),
        ("customer_name", pa.string()),
        ("channel", pa.string()),
        ("line_type", pa.string()),
        ("adjusted_date", pa.date32()),
        ("notifications", pa.int64()),
        ("price_mode", pa.string()),
        ("unit_price", pa.decimal128(18, 6)),
        ("amount_centavos", pa.int64()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("content_hash", pa.string()),
        ("computed_at", pa.timestamp("us", tz="UTC")),
        ("final_after", pa.timestamp("us", tz="UTC")),
    ]
)


def bills_path(settings: Settings) -> Path:
    """The billing Delta table (the dashboard reads it with delta-rs)."""
    return settings.billing.bills_path(settings.home)


def reports_dir(settings: Settings) -> Path:
    return (settings.billing.folder(settings.home) / "reports").resolve()


def _stream_table(settings: Settings, session: SparkSession, name: str) -> DataFrame:
    path = settings.notifications.folder(settings.home).resolve() / name
    table = delta.read_or_none(session, path)
    if table is None:
        raise InputError(
            str(path), f"no {name} table yet: run `esteira notifications stream` first"
        )
    return table


def read_gold(settings: Settings, session: SparkSession) -> DataFrame:
    return _stream_table(settings, session, "gold")


def read_silver(settings: Settings, session: SparkSession) -> DataFrame:
    return _stream_table(settings, session, "silver")


def read_bills_from(settings: Settings, session: SparkSession, day: date) -> list[dict[str, Any]]:
    """Every line billed on `day` or later (a day's own lines, the open bills after it
    and their adjustments of it): small, one row per customer and channel a day."""
    table = delta.read_or_none(session, bills_path(settings))
    if table is None:
        return []
    return [
        _utc(r) for r in table.filter(F.col("billing_date") >= F.lit(day)).toArrow().to_pylist()
    ]


def write_partitions(
    session: SparkSession, settings: Settings, partitions: dict[date, list[dict[str, Any]]]
) -> None:
    """Replaces the named billing_date partitions with their new rows in one commit."""
    rows = [r for day in sorted(partitions) for r in partitions[day]]
    table = pa.Table.from_pylist(
        [{c: r[c] for c in ARROW_SCHEMA.names} for r in rows], schema=ARROW_SCHEMA
    )
    frame = session.createDataFrame(table).select(
        *[F.col(c.split()[0]).cast(c.split()[1]) for c in BILLS_SCHEMA.split(", ")]
    )
    days = ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(partitions))
    delta.replace_where(frame, bills_path(settings), f"billing_date IN ({days})", PARTITIONS)


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """Timestamps come back naive in the session's zone (UTC, set by esteira.engine)."""
    for key in ("computed_at", "final_after"):
        if row[key] is not None and row[key].tzinfo is None:
            row[key] = row[key].replace(tzinfo=UTC)
    return row


def write_bill_files(rows: list[dict[str, Any]], day: date, folder: Path) -> list[Path]:
    """cobranca_<day>.txt (the seed's layout) and .csv, each replaced in one rename."""
    folder.mkdir(parents=True, exist_ok=True)
    txt = files.write_text(folder / f"cobranca_{day.isoformat()}.txt", render_bill_txt(rows))
    csv = files.write_text(folder / f"cobranca_{day.isoformat()}.csv", render_bill_csv(rows))
    return [txt, csv]
