"""Sail's JDBC source: pysail's (on connectorx), with each read's schema asked once.

Sail asks a Python data source for its schema every time a plan over it is analysed or
run, and pysail's JDBC source answers with a `LIMIT 0` query each time: 20-30 ms, a
dozen times per frame in a warehouse step (a warm incremental run: about 2 s of its
16-18). Spark Connect's client keeps a frame's schema, but not the schemas of the frames
made from it. Here each read (postgres.read_table tags its options with a token of its
own) asks the database once; a later read of the same table asks again, so a table
changed in between is seen. A read whose columns' types the caller knows (from the
catalog, on a connection it already has) carries the schema they make in connectorx
(`encoded_schema`), and the database is not asked at all: the LIMIT 0 query opens a
connection of its own, 25-60 ms a read, a dozen reads in a warm incremental run.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from pysail.spark.datasource.jdbc import JdbcDataSource

from esteira.connectors.postgres import READ_TOKEN, SCHEMA_OPTION

_KEPT = 512  # the latest reads' schemas kept
_SCHEMAS: OrderedDict[tuple, Any] = OrderedDict()
_LOCK = threading.Lock()


class OnceJdbcDataSource(JdbcDataSource):
    """format("jdbc") on Sail: pysail's source, whose schema is asked once per read."""

    def schema(self) -> Any:
        if SCHEMA_OPTION in self.options:
            return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(self.options[SCHEMA_OPTION])))
        if READ_TOKEN not in self.options:
            return super().schema()
        key = tuple(sorted(self.options.items()))
        with _LOCK:
            found = _SCHEMAS.get(key)
        if found is None:
            found = super().schema()
            with _LOCK:
                _SCHEMAS[key] = found
                while len(_SCHEMAS) > _KEPT:
                    _SCHEMAS.popitem(last=False)
        return found


# PostgreSQL's declared types (format_type) as connectorx reads them into Arrow (checked
# against its LIMIT 0 answers by tests/connectors/test_sail_jdbc.py); any other type: ask
_ARROW = {
    "bigint": pa.int64(), "integer": pa.int32(), "smallint": pa.int16(),
    "boolean": pa.bool_(), "double precision": pa.float64(), "real": pa.float32(),
    "text": pa.string(), "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="+00:00"),
    "timestamp without time zone": pa.timestamp("us"),
}
_PREFIXED = {"numeric": pa.decimal128(38, 10), "character varying": pa.string(),
             "character": pa.string()}


def encoded_schema(types: Mapping[str, str]) -> str | None:
    """The read's schema (column -> declared type, in the query's order) as the option
    `schema` reads; None when a type is not one whose Arrow form is known here."""
    fields = []
    for name, declared in types.items():
        arrow = _ARROW.get(declared) or next(
            (t for p, t in _PREFIXED.items() if declared == p or declared.startswith(p + "(")),
            None)
        if arrow is None:
            return None
        fields.append(pa.field(name, arrow))
    return base64.b64encode(pa.schema(fields).serialize().to_pybytes()).decode()
