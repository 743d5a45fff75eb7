"""Chatbot answers per session (Questão 3): the latest valid answer of every key.

The rules:
- an answer whose value is null, empty or blank is ignored entirely, also for the
  session's timestamps;
- first_answer_dt / last_answer_dt are the earliest and latest timestamps of a
  session's valid answers, in UTC, written YYYY-MM-DDTHH:MM:SS;
- each key takes its latest valid value in the session (a later cpf overwrites an
  earlier one); a tie in time goes to the key written later in the event;
- flow-agnostic: the keys come from the data. A flow's table has one column per key,
  in order of first appearance (earliest valid answer, then position in the event).
Pivoting needs the list of keys; the job collects it (key_order) and passes it in.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from esteira.chatbot.schemas import (
    BOUNDS,
    DATETIME_FORMAT,
    EVENT_SCHEMA,
    LONG_COLUMNS,
    SESSION_KEYS,
)
from esteira.columns import is_blank
from esteira.quality import FAILED, Expectation

FIELDS = (*SESSION_KEYS, "timestamp", "content")
_WITH_OFFSET = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
# Delta refuses these in column names (without column mapping); dots and backticks
# would need quoting in every later query.
_UNSAFE_COLUMN = re.compile(r"[ ,;{}()\n\t=.`]")


def parse_events(raw: DataFrame) -> DataFrame:
    """(source, record) text rows -> the event's fields, `event_ts` and `_is_object`."""
    event = F.from_json(F.col("record"), EVENT_SCHEMA)
    some_field = reduce(operator.or_, [F.col(f"_event.{c}").isNotNull() for c in FIELDS])
    return raw.select("source", "record", event.alias("_event")).select(
        "source",
        "record",
        # Checking JSON validity parses the text again: only worth it when no field came.
        F.when(some_field, F.lit(True))
        .otherwise(F.json_object_keys("record").isNotNull())
        .alias("_is_object"),
        *[F.col(f"_event.{c}").alias(c) for c in FIELDS],
        F.trim(F.col("_event.timestamp")).try_cast("timestamp").alias("event_ts"),
    )


def event_rules() -> list[Expectation]:
    """Events that cannot be used; each name is the reason a reject carries."""
    rules = [Expectation("not a valid JSON object", "_is_object", "drop")]
    for field in (*SESSION_KEYS, "timestamp"):
        rules.append(
            Expectation(
                f"{field} is missing",
                f"NOT _is_object OR nullif(trim({field}), '') IS NOT NULL",
                "drop",
            )
        )
    rules.append(
        Expectation(
            "timestamp is not ISO 8601 with an offset",
            "NOT _is_object OR nullif(trim(timestamp), '') IS NULL "
            f"OR (event_ts IS NOT NULL AND trim(timestamp) rlike '{_WITH_OFFSET}')",
            "drop",
        )
    )
    return rules


def events_to_stage(flagged: DataFrame, record_chars: int) -> DataFrame:
    """What later steps need of each flagged event; the raw text only of rejected ones.

    Staging this once means the JSON is parsed once: checking, rejects and answers all
    read the staged columns (Sail re-parses per reference when filtering a parse).
    """
    failed = F.size(FAILED) > 0
    return flagged.select(
        "source",
        *SESSION_KEYS,
        "event_ts",
        "content",
        FAILED,
        F.when(failed, F.substring("record", 1, record_chars)).alias("record"),
    )


def valid_answers(events: DataFrame) -> DataFrame:
    """One row per answer the user really gave (key and value not null, empty or only
    spaces): session keys, key, value, event_ts, pos in event."""
    return events.select(
        *SESSION_KEYS,
        "event_ts",
        F.posexplode("content").alias("pos", "key", "value"),
    ).filter(~is_blank("value") & ~is_blank("key"))


def _order(ts: str, pos: str) -> Column:
    """Time and place in the event as one sortable long (microseconds * 1000 + position).

    Max/min over a struct is slow on Sail; over a long it is cheap on both engines.
    """
    return F.unix_micros(ts) * 1000 + F.least(F.col(pos), F.lit(999))


def session_answers(answers: DataFrame) -> DataFrame:
    """Per session and key: the latest value and when it came, and when the key first came.

    The first time is kept for the flow's column order and for first_answer_dt.
    """
    ordered = answers.withColumn("_order", _order("event_ts", "pos"))
    return (
        ordered.groupBy(*SESSION_KEYS, "key")
        .agg(
            F.max_by("value", "_order").alias("value"),
            F.max("_order").alias("_last"),
            F.min("_order").alias("_first"),
        )
        .select(
            *SESSION_KEYS,
            "key",
            "value",
            F.timestamp_micros(F.floor(F.col("_last") / 1000)).alias("answered_at"),
            F.timestamp_micros(F.floor(F.col("_first") / 1000)).alias("first_at"),
            (F.col("_first") % 1000).cast("int").alias("first_pos"),
        )
    )


def long_answers(per_session: DataFrame) -> DataFrame:
    """The analysts' long table: customer, flow, session, key, value, answered_at."""
    return per_session.select(*LONG_COLUMNS)


def key_order(per_session: DataFrame) -> DataFrame:
    """(flow, key, first_at, first_pos): when each key first appeared in its flow."""
    first = F.min(_order("first_at", "first_pos"))
    return (
        per_session.groupBy("flow", "key")
        .agg(first.alias("_first"))
        .select(
            "flow",
            "key",
            F.timestamp_micros(F.floor(F.col("_first") / 1000)).alias("first_at"),
            (F.col("_first") % 1000).cast("int").alias("first_pos"),
        )
    )


def answer_columns(keys: Sequence[str]) -> list[str]:
    """Column names for keys: as written, unless unsafe for Delta or taken already."""
    fixed = {*SESSION_KEYS, *BOUNDS}
    taken = set(fixed)
    names = []
    for key in keys:
        name = _UNSAFE_COLUMN.sub("_", key)
        if name in fixed:
            name = f"answer_{name}"
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        names.append(name)
    return names


def flow_table(per_session: DataFrame, flow: str, keys: Sequence[str]) -> DataFrame:
    """One row per session of `flow`: bounds, then one column per key in `keys` order."""
    answers = [
        F.max(F.when(F.col("key") == key, F.col("value"))).alias(name)
        for key, name in zip(keys, answer_columns(keys), strict=True)
    ]
    return (
        per_session.filter(F.col("flow") == flow)
        .groupBy(*SESSION_KEYS)
        .agg(F.min("first_at").alias("_first"), F.max("answered_at").alias("_last"), *answers)
        .select(
            *SESSION_KEYS,
            F.date_format("_first", DATETIME_FORMAT).alias(BOUNDS[0]),
            F.date_format("_last", DATETIME_FORMAT).alias(BOUNDS[1]),
            *[F.col(f"`{name}`") for name in answer_columns(keys)],
        )
    )
