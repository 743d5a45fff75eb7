"""Sail's JDBC source: pysail's (on connectorx), with each read's schema asked once.

Sail asks a Python data source for its schema every time a plan over it is analysed or
run, and pysail's JDBC source answers with a `LIMIT 0` query each time: 20-30 ms, a
dozen times per frame in a warehouse step (a warm incremental run: about 2 s of its
16-18). Spark Connect's client keeps a frame's schema, but not the schemas of the frames
made from it. Here each read (postgres.read_table tags its options with a token of its
own) asks the database once; a later read of the same table asks again, so a table
changed in between is seen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pysail.spark.datasource.jdbc import JdbcDataSource

from esteira.connectors.postgres import READ_TOKEN

_KEPT = 512  # the latest reads' schemas kept
_SCHEMAS: OrderedDict[tuple, Any] = OrderedDict()
_LOCK = threading.Lock()


class OnceJdbcDataSource(JdbcDataSource):
    """format("jdbc") on Sail: pysail's source, whose schema is asked once per read."""

    def schema(self) -> Any:
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
