"""Running Structured Streaming queries: session settings, start, watch, idle-stop, restart.

A streaming job hands `run_queries` one starter per query (a function that starts it
from its checkpoint). The watcher polls them, passes every new progress report with
input to `on_progress`, stops them all once no input arrived for `until_idle` seconds
(or runs until one fails or is stopped), and restarts a query whose failure is a known,
safe-to-retry Spark bug, from its checkpoint, while the others run on. Any other failure
stops every query and becomes one ServiceError line naming the query and the exception's
class, never the engine's text (it can quote the records a batch was reading).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from pyspark.sql import SparkSession

from esteira import alerts
from esteira.errors import ServiceError

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
    lag = _LagWatch(name, len(queries))
    while True:
        for i, query in enumerate(queries):
            failure = query.exception()
            if failure is None:
                continue
            if not any(sign in str(failure) for sign in KNOWN_SAFE_FAILURES):
                raise ServiceError(f"the {name} failed: query {query.name} stopped with "
                                   f"{failure_class(failure)}")
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise ServiceError(f"the {name} kept failing on SPARK-55271")
            log.warning("Spark 4.1.1 bug SPARK-55271 after a replayed batch (already "
                        "committed): restarting query %s from its checkpoint", query.name)
            queries[i] = starters[i]()
            last_input = time.monotonic()  # a restart is not idleness
        if not all(query.isActive for query in queries):
            _alert_stopped(queries, name)
            return
        for i, query in enumerate(queries):
            for progress in query.recentProgress:
                if progress["batchId"] <= seen[i] or progress.get("numInputRows", 0) == 0:
                    continue
                seen[i] = progress["batchId"]
                lag.check(i, progress)
                last_input = time.monotonic()
                if on_progress is not None:
                    on_progress(i, progress)
        if until_idle is not None and not any(_busy(q) for q in queries) \
                and time.monotonic() - last_input >= until_idle:
            log.info("no input for %.0f s: stopping the %s", until_idle, name)
            return
        time.sleep(poll_seconds)


def failure_class(failure: BaseException) -> str:
    """A query failure's Python class and, when the JVM says, its root cause's class: what
    went wrong (a Kafka timeout, a Delta conflict) without the text, which can quote data."""
    name = type(failure).__name__
    try:  # classic pyspark keeps the Java exception (its cause's); Spark Connect does not
        cause = getattr(failure, "_origin", None)
        if cause is None and getattr(failure, "_cause", None) is not None:
            cause = getattr(failure._cause, "_origin", None)
        while cause is not None and cause.getCause() is not None:
            cause = cause.getCause()
        root = cause.getClass().getName() if cause is not None else None
    except Exception:  # noqa: BLE001 - only a nicer message is lost
        root = None
    return f"{name} ({root})" if root and not root.endswith(name) else name


def _alert_stopped(queries: list, name: str) -> None:
    """A query that ended without failing and without an idle stop: someone or something
    stopped it, and nothing reads the topic any more."""
    stopped = [str(q.name) for q in queries if not q.isActive]
    log.warning("the %s stopped: query %s is no longer active", name, ", ".join(stopped))
    alerts.send("stream_stopped", f"the {name} stopped (query {', '.join(stopped)})",
                stream=name, queries=stopped)


class _LagWatch:
    """Alerts once when a query falls more than alerts.stream_max_offsets_behind Kafka
    records behind the topic's end (the Kafka source's maxOffsetsBehindLatest), and again
    only after it caught up."""

    def __init__(self, name: str, queries: int) -> None:
        self.name = name
        self.behind = [False] * queries

    def check(self, i: int, progress: Any) -> None:
        offsets = offsets_behind(progress)
        if offsets is None:
            return
        limit = alerts.current().stream_max_offsets_behind
        if offsets > limit and not self.behind[i]:
            log.warning("the %s is %d records behind the topic", self.name, offsets)
            alerts.send("stream_behind", f"the {self.name} is {offsets} records behind "
                        f"(threshold {limit})", stream=self.name, batch_id=progress["batchId"],
                        offsets_behind=offsets, threshold=limit)
        elif offsets <= limit and self.behind[i]:
            log.info("the %s caught up (%d records behind)", self.name, offsets)
        self.behind[i] = offsets > limit


def offsets_behind(progress: Any) -> int | None:
    """The largest maxOffsetsBehindLatest of a progress report's Kafka sources, if any."""
    found = []
    for source in progress.get("sources") or []:
        value = (source.get("metrics") or {}).get("maxOffsetsBehindLatest")
        try:
            found.append(int(float(value)))
        except (TypeError, ValueError):
            continue
    return max(found) if found else None


def _busy(query: Any) -> bool:
    """Working, or not through its first trigger yet: a query just (re)started from its
    checkpoint has reported nothing, and on a loaded machine that takes longer than the
    idle time (it stopped a stream that still had a backlog to read)."""
    if query.lastProgress is None:
        return True
    status = query.status
    return bool(status.get("isTriggerActive") or status.get("isDataAvailable"))
