"""Running Structured Streaming queries: session settings, start, watch, idle-stop, restart.

A streaming job hands `run_queries` one starter per query (a function that starts it
from its checkpoint). The watcher polls them, passes every new progress report with
input to `on_progress`, stops them all once no input arrived for `until_idle` seconds
(or runs until one fails or is stopped), and restarts a query whose failure is a known,
safe-to-retry Spark bug, from its checkpoint, while the others run on. Any other failure
stops every query and becomes one ServiceError line (the engine's text may quote data:
only its first line, and only for failures that are not about a record).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from pyspark.sql import SparkSession

from esteira.errors import ServiceError, first_line

log = logging.getLogger(__name__)
Starter = Callable[[], Any]  # () -> StreamingQuery
# Spark 4.1.1's Kafka source throws this NPE while reporting progress for the batch it
# replays after a crash; the batch itself and its commit are done by then (SPARK-55271,
# SPARK-57438), so starting the query again from the checkpoint is safe.
SPARK_55271 = 'IterableOps.map(scala.Function1)" because the return value of "scala.Option.get()"'
KNOWN_SAFE_FAILURES = (SPARK_55271,)
MAX_RESTARTS = 6  # in one run, over all its queries
# Settings of a session that runs stateful streaming queries writing Delta tables.
STREAMING_CONF = {
    # dedupe or aggregation state in RocksDB (off-heap, spills to disk); changelog
    # checkpointing writes only what changed per batch
    "spark.sql.streaming.stateStore.providerClass":
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
    # state expiry happens in the next batch with data, not in an extra empty batch
    "spark.sql.streaming.noDataMicroBatches.enabled": "false",
    "spark.databricks.delta.optimizeWrite.enabled": "false",
    "spark.databricks.delta.autoCompact.enabled": "false",
    # Tables a stream creates write a Delta checkpoint every 100 commits, not 10: the
    # checkpoint is written inside the commit, and a stream writes each of its tables
    # once per batch, so at 10 all of them checkpointed in the same batch and stalled it
    # every ten batches. Existing tables keep their interval.
    "spark.databricks.delta.properties.defaults.checkpointInterval": "100",
    # a MERGE whose source is a small local relation (collected in the batch):
    # deterministic, nothing to copy first
    "spark.databricks.delta.merge.materializeSource": "none",
}


def configure(session: SparkSession, **overrides: str) -> None:
    """Applies STREAMING_CONF (and a job's own keys) to the session before any start."""
    for key, value in {**STREAMING_CONF, **overrides}.items():
        session.conf.set(key, value)


def run_queries(
    starters: list[Starter],
    *,
    until_idle: float | None = None,
    on_progress: Callable[[int, Any], None] | None = None,
    name: str = "stream",
    poll_seconds: float = 0.5,
) -> None:
    """Starts every query and watches them until idle, stopped or failed; stops them all
    on the way out. `on_progress(i, progress)` sees each new batch with input of query i.
    """
    queries = [start() for start in starters]
    try:
        _watch(queries, starters, until_idle, on_progress, name, poll_seconds)
    finally:
        stop_all(queries)


def stop_all(queries: Iterable[Any]) -> None:
    for query in queries:
        if query.isActive:
            query.stop()


def _watch(queries: list, starters: list[Starter], until_idle: float | None,
           on_progress: Callable[[int, Any], None] | None, name: str,
           poll_seconds: float) -> None:
    last_input = time.monotonic()
    seen = [-1] * len(queries)
    restarts = 0
    while True:
        for i, query in enumerate(queries):
            failure = query.exception()
            if failure is None:
                continue
            if not any(sign in str(failure) for sign in KNOWN_SAFE_FAILURES):
                raise ServiceError(f"the {name} failed: {first_line(failure)}")
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise ServiceError(f"the {name} kept failing on SPARK-55271")
            log.warning("Spark 4.1.1 bug SPARK-55271 after a replayed batch (already "
                        "committed): restarting query %s from its checkpoint", query.name)
            queries[i] = starters[i]()
        if not all(query.isActive for query in queries):
            return
        for i, query in enumerate(queries):
            for progress in query.recentProgress:
                if progress["batchId"] <= seen[i] or progress.get("numInputRows", 0) == 0:
                    continue
                seen[i] = progress["batchId"]
                last_input = time.monotonic()
                if on_progress is not None:
                    on_progress(i, progress)
        if until_idle is not None and not any(_busy(q) for q in queries) \
                and time.monotonic() - last_input >= until_idle:
            log.info("no input for %.0f s: stopping the %s", until_idle, name)
            return
        time.sleep(poll_seconds)


def _busy(query: Any) -> bool:
    status = query.status
    return bool(status.get("isTriggerActive") or status.get("isDataAvailable"))
