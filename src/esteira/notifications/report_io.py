"""Silver reads for the detailed report: the customer, the range's size, its rows.

Rows leave the engine in event-time chunks of at most `CHUNK_ROWS` messages (whole
minutes), each sorted by the engine: the driver holds one chunk at a time, so a report
of millions of messages runs in bounded memory on both engines (a single sorted
`collect`, or a Connect result stream the server fills in full, would not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors import delta
from esteira.errors import ConfigError, InputError
from esteira.notifications.report import REPORT_COLUMNS
from esteira.settings import Settings

CHUNK_ROWS = 250_000
Plan = list[tuple[datetime, datetime, int]]  # [start, end) in UTC and its messages


def silver_path(settings: Settings) -> str:
    return str(settings.notifications.folder(settings.home).resolve() / "silver")


def silver(settings: Settings, session: SparkSession) -> DataFrame:
    path = silver_path(settings)
    table = delta.read_or_none(session, path)
    if table is None:
        raise InputError(path, "no silver table yet: run `esteira notifications stream` first")
    return table


def resolve_customer(table: DataFrame, customer: str, source: str) -> tuple[int, str]:
    """customer_id and name from a customer_id or an exact name (any case). The errors
    never repeat the name asked."""
    if customer.isdigit():
        found = (
            table.filter(F.col("customer_id") == int(customer))
            .groupBy("customer_id")
            .agg(F.max("customer_name").alias("customer_name"))
            .collect()
        )
        if not found:
            raise ConfigError(f"--customer: no customer with that customer_id in {source}")
        return int(found[0]["customer_id"]), found[0]["customer_name"]
    found = (
        table.filter(F.lower("customer_name") == customer.lower())
        .select("customer_id", "customer_name")
        .distinct()
        .orderBy("customer_id")
        .limit(21)
        .collect()
    )
    ids = sorted({int(r["customer_id"]) for r in found})
    if not ids:
        raise ConfigError(f"--customer: no customer with that name in {source}")
    if len(ids) > 1:
        shown = ", ".join(map(str, ids[:20]))
        raise ConfigError(
            f"--customer: the name matches {len(ids)} customers "
            f"(customer_id {shown}); pass one customer_id"
        )
    return ids[0], found[0]["customer_name"]


def _in_range(
    table: DataFrame, customer_id: int, start: datetime | None, end: datetime | None
) -> DataFrame:
    cond = F.col("customer_id") == customer_id
    if start is not None:  # event_date (UTC) prunes partitions, event_datetime is exact
        cond &= (F.col("event_date") >= F.lit(start.date())) & (
            F.col("event_datetime") >= F.lit(start)
        )
    if end is not None:
        cond &= (F.col("event_date") <= F.lit(end.date())) & (F.col("event_datetime") < F.lit(end))
    return table.filter(cond)


def plan_chunks(
    table: DataFrame, customer_id: int, start: datetime | None, end: datetime | None
) -> Plan:
    """Consecutive [start, end) pieces of whole minutes, each of at most CHUNK_ROWS
    messages (a busier single minute is a piece of its own), from one per-minute count."""
    per_minute = (
        _in_range(table, customer_id, start, end)
        .groupBy(F.unix_micros(F.date_trunc("minute", "event_datetime")).alias("m"))
        .count()
        .orderBy("m")
        .collect()
    )
    plan: Plan = []
    first, last, n = None, None, 0
    for row in per_minute:
        minute = datetime.fromtimestamp(row["m"] / 1e6, UTC)
        if first is not None and n + row["count"] > CHUNK_ROWS:
            plan.append((first, last, n))
            first, n = None, 0
        first = minute if first is None else first
        last, n = minute + timedelta(minutes=1), n + row["count"]
    if first is not None:
        plan.append((first, last, n))
    # pieces are whole minutes; the range's own edges still apply inside them
    return [(max(a, start) if start else a, min(b, end) if end else b, k) for a, b, k in plan]


def chunks(
    table: DataFrame,
    customer_id: int,
    plan: Plan,
    total: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> Iterator[pa.Table]:
    """The range's messages in (event_datetime, message_id) order, one Arrow table per
    planned chunk, each message_id once."""
    done = 0
    for start, end, _ in plan:
        chunk = _drop_redeliveries(
            _in_range(table, customer_id, start, end)
            .select(*REPORT_COLUMNS)
            .orderBy("event_datetime", "message_id")
            .toArrow()
        )
        done += chunk.num_rows
        yield chunk
        if on_progress is not None:
            on_progress(done, total)


def _drop_redeliveries(chunk: pa.Table) -> pa.Table:
    """Drops a row equal to the one before it in message_id and event time: a
    re-delivery that reached silver after the stream's dedupe horizon carries its
    original's event time, so in (event_datetime, message_id) order it comes right
    after it, in the same chunk (the engines' dropDuplicates cost 4x the sort on Sail)."""
    if chunk.num_rows < 2:
        return chunk
    ids = chunk["message_id"].combine_chunks()
    times = chunk["event_datetime"].combine_chunks()
    n = len(ids)
    same = pc.and_(
        pc.equal(ids.slice(1), ids.slice(0, n - 1)), pc.equal(times.slice(1), times.slice(0, n - 1))
    )
    keep = pa.concat_arrays([pa.array([True]), pc.invert(pc.fill_null(same, False))])
    return chunk.filter(keep)
