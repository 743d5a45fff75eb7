"""A frame's rows as Arrow record batches, as the engine sends them.

`DataFrame.toArrow()` waits for every batch before it returns; a bulk load that reads
the batches as they arrive runs its COPY while the engine is still computing and
sending the rest (Sail serves Spark Connect from the same process, on other cores).
Spark Connect's client has no public call for that, so this uses its streaming
iterator (pyspark pinned in pyproject.toml), and falls back to `toArrow()` on a
session without it (classic JVM Spark, or a client whose internals changed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def batches(frame: DataFrame) -> Iterator[Any]:
    """The frame's rows, batch by batch (pyarrow RecordBatch), in the frame's order."""
    stream = _connect_stream(frame)
    if stream is None:
        yield from frame.toArrow().to_batches()
        return
    import pyarrow as pa

    for item in stream:
        if isinstance(item, pa.RecordBatch) and item.num_rows:
            yield item


def _connect_stream(frame: DataFrame) -> Iterator[Any] | None:
    from pyspark.sql.connect.dataframe import DataFrame as ConnectFrame

    if not isinstance(frame, ConnectFrame):  # classic JVM Spark: toArrow
        return None
    try:
        client = frame.sparkSession.client
        plan = frame._plan
        request = client._execute_plan_request_with_metadata()
        request.plan.CopyFrom(plan.to_proto(client))
        return client._execute_and_fetch_as_iterator(request, plan.observations)
    except AttributeError:  # the client's internals changed
        log.warning("Spark Connect's client has no streaming iterator: using toArrow")
        return None
