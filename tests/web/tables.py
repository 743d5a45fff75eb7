"""Delta tables in the stream's layout, written with delta-rs from a list of messages,
for the dashboard's tests that run without a JVM (the browser test feeds the real stream
code instead). Expected values in the tests are summed from the same message list."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Msg:
    message_id: str
    customer_id: int
    customer_name: str
    channel: str
    at: datetime  # UTC
    payload: str = "Olá XXXXX, seja muito bem-vindo!"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def write_stream_tables(root: Path, messages: list[Msg], updated_at: datetime) -> None:
    """silver (a row per message), gold (per minute) and rollup (per hour)."""
    write_deltalake(str(root / "silver"), pa.table({
        "message_id": [m.message_id for m in messages],
        "customer_id": pa.array([m.customer_id for m in messages], pa.int64()),
        "customer_name": [m.customer_name for m in messages],
        "channel": [m.channel for m in messages],
        "payload": [m.payload for m in messages],
        "event_datetime": pa.array([m.at for m in messages], TS),
        "event_date": pa.array([m.at.date() for m in messages], pa.date32()),
    }), partition_by=["event_date"], mode="overwrite")
    minutes: dict[tuple, int] = defaultdict(int)
    for m in messages:
        minutes[(m.customer_id, m.customer_name, m.channel,
                 m.at.replace(second=0, microsecond=0))] += 1
    keys = sorted(minutes)
    write_deltalake(str(root / "gold"), pa.table({
        "customer_id": pa.array([k[0] for k in keys], pa.int64()),
        "customer_name": [k[1] for k in keys], "channel": [k[2] for k in keys],
        "minute": pa.array([k[3] for k in keys], TS),
        "notifications": pa.array([minutes[k] for k in keys], pa.int64()),
        "event_date": pa.array([k[3].date() for k in keys], pa.date32()),
        "event_hour": pa.array([k[3].hour for k in keys], pa.int32()),
        "updated_at": pa.array([updated_at] * len(keys), TS),
    }), partition_by=["event_date", "event_hour"], mode="overwrite")
    hours: dict[tuple, dict[datetime, int]] = defaultdict(dict)
    for (cid, name, channel, minute), n in minutes.items():
        hours[(cid, name, channel, minute.date(), minute.hour)][minute] = n
    keys = sorted(hours)
    newest = [max(hours[k]) for k in keys]
    write_deltalake(str(root / "rollup"), pa.table({
        "customer_id": pa.array([k[0] for k in keys], pa.int64()),
        "customer_name": [k[1] for k in keys], "channel": [k[2] for k in keys],
        "event_date": pa.array([k[3] for k in keys], pa.date32()),
        "event_hour": pa.array([k[4] for k in keys], pa.int32()),
        "notifications": pa.array([sum(hours[k].values()) for k in keys], pa.int64()),
        "last_minute": pa.array(newest, TS),
        "last_minute_notifications": pa.array(
            [hours[k][m] for k, m in zip(keys, newest, strict=True)], pa.int64()),
        "updated_at": pa.array([updated_at] * len(keys), TS),
    }), partition_by=["event_date", "event_hour"], mode="overwrite")


def write_bills(path: Path, lines: list[dict]) -> None:
    """Billing-table rows (the columns of the billing job's table)."""
    cols = {
        "billing_date": pa.date32(), "customer_id": pa.int64(), "customer_name": pa.string(),
        "channel": pa.string(), "line_type": pa.string(), "adjusted_date": pa.date32(),
        "notifications": pa.int64(), "price_mode": pa.string(),
        "unit_price": pa.decimal128(18, 6), "amount_centavos": pa.int64(),
        "status": pa.string(), "reason": pa.string(), "content_hash": pa.string(),
        "computed_at": TS, "final_after": TS,
    }
    table = pa.table({c: pa.array([line.get(c) for line in lines], t) for c, t in cols.items()})
    write_deltalake(str(path), table, partition_by=["billing_date"], mode="overwrite")


def day(text: str) -> date:
    return date.fromisoformat(text)
