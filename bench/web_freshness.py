"""Freshness end to end: from a message reaching the broker to its count on the home API.

Used by `bench/web_dashboard.py --freshness`. The real stream (JVM Spark, a child
process) reads a fresh topic fed at `rate` msg/s by the generator, the real
`esteira serve` reads the stream's tables, and a poller asks the home API every 200 ms
which rollup version it shows (`version`). A message has appeared when the API shows
the rollup version its micro-batch committed (the rollup commit's txn version is the
batch id, the one silver stamps on the message) or a later one; its latency is that
moment minus its LogAppendTime. The page itself asks every `web.refresh_seconds` (5 s),
which adds up to that much on screen.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC
from pathlib import Path

import httpx
import polars as pl
from deltalake import DeltaTable


def rollup_versions(rollup: Path) -> dict[tuple[str, int], int]:
    """(txn appId, batch id) -> the rollup's Delta version that committed it."""
    out = {}
    for entry in sorted((rollup / "_delta_log").glob("*.json")):
        for line in entry.read_text(encoding="utf-8").splitlines():
            action = json.loads(line)
            if "txn" in action:
                out[(action["txn"]["appId"], int(action["txn"]["version"]))] = int(entry.stem)
    return out


class VersionPoller:
    """Asks the home API which rollup version it shows, every `every` seconds."""

    def __init__(self, base: str, every: float = 0.2) -> None:
        self.base, self.every = base, every
        self.first_seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> VersionPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    version = client.get("/api/customers?size=1").json().get("version")
                except (httpx.HTTPError, ValueError):
                    version = None
                if version is not None:
                    self.first_seen.setdefault(int(version), time.time())
                self._stop.wait(self.every)


def latencies(root: Path, first_seen: dict[int, float], measured_from: float) -> list[float]:
    """Seconds from LogAppendTime to the API showing each message measured."""
    versions = rollup_versions(root / "rollup")
    seen = sorted(first_seen.items())
    silver = pl.from_arrow(DeltaTable(str(root / "silver")).to_pyarrow_table(
        columns=["app_id", "batch_id", "kafka_timestamp"]))
    out = []
    per_batch = silver.group_by("app_id", "batch_id").agg(pl.col("kafka_timestamp"))
    for app_id, batch_id, stamps in per_batch.iter_rows():
        version = versions.get((app_id, int(batch_id)))
        shown = next((when for v, when in seen if version is not None and v >= version), None)
        for ts in stamps:
            sent = (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()
            if sent >= measured_from and shown is not None:
                out.append(shown - sent)
    return out
