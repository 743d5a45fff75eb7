"""Issue 6, rules 3 and 4: SIGKILL the stream three times; gold still counts exactly.

Real broker (tests/service_fixtures.py), real JVM Spark in a child process, real Delta
tables. The three kills land in the worst windows a crash can hit:
1. while a micro-batch is being processed (right after Spark logged its offsets);
2. right after gold committed a batch, before silver did (gold is written first);
3. right after silver committed a batch, before Spark recorded the batch (and its state).
After a last run until idle, gold must equal the generator's distinct counts per
customer, channel and minute; bronze must hold every Kafka record exactly once and
rejects every broken record with its reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from esteira.datagen.notifications import Spec, Tally, produce
from esteira.engine import get_session
from esteira.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
ESTEIRA = [sys.executable, "-m", "esteira.cli"]
pytestmark = [pytest.mark.spark_only, pytest.mark.slow]


def _commits(table: Path) -> int:
    log = table / "_delta_log"
    return len(list(log.glob("*.json"))) if log.is_dir() else 0


def _batches_started(root: Path) -> int:
    offsets = root / "checkpoint" / "offsets"
    return len([p for p in offsets.iterdir() if p.name.isdigit()]) if offsets.is_dir() else 0


def _wait(condition: Callable[[], bool], proc: subprocess.Popen, what: str,
          timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the stream exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _start(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen:
    out = log.open("ab")
    # its own process group: the kill takes the JVM child along, as a crash would
    return subprocess.Popen([*ESTEIRA, "--engine", "spark", "notifications", "stream", *extra],
                            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _jvm_environ() -> dict[str, str]:
    """This process may hold Spark Connect sessions (Sail); the child must start a JVM."""
    connect = ("SPARK_REMOTE", "SPARK_LOCAL_REMOTE")
    return {k: v for k, v in os.environ.items()
            if not k.startswith("SPARK_CONNECT") and k not in connect}


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_sigkill_three_times_loses_nothing_and_counts_nothing_twice(
    kafka_bootstrap: str, kafka_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = kafka_topic(partitions=3)
    root = tmp_path / "lake"
    knobs = {"topic": topic, "partitions": "3", "root": str(root), "trigger_seconds": "0.5",
             "max_offsets_per_trigger": "500"}
    env = {**_jvm_environ(), "ESTEIRA_HOME": str(REPO / ".esteira"), "ESTEIRA_ENGINE": "spark",
           **{f"ESTEIRA_NOTIFICATIONS__{k.upper()}": v for k, v in knobs.items()}}
    spec = Spec(rate=10, duration=240, customers=8, start=datetime(2020, 2, 3, 14, tzinfo=UTC),
                duplicates=0.06, late=0.03, bad=0.03, too_late=0.01, seed=6)
    tallies: list[Tally] = []
    producer = threading.Thread(
        target=lambda: tallies.append(
            produce(kafka_bootstrap, topic, spec, partitions=3, send_rate=40)),
        daemon=True,
    )
    producer.start()  # 2,400 records over ~60 s, while the stream is being killed
    log = tmp_path / "stream.log"

    proc = _start(env, log)
    seen = _batches_started(root)
    _wait(lambda: _batches_started(root) > seen, proc, "a micro-batch to start")
    time.sleep(0.5)
    _kill(proc)  # 1: in the middle of a micro-batch

    proc = _start(env, log)
    gold = _commits(root / "gold")
    _wait(lambda: _commits(root / "gold") > gold, proc, "a gold commit")
    _kill(proc)  # 2: gold has the batch, silver does not

    proc = _start(env, log)
    silver = _commits(root / "silver")
    _wait(lambda: _commits(root / "silver") > silver, proc, "a silver commit")
    _kill(proc)  # 3: silver has the batch too, Spark has not committed it

    producer.join(timeout=180)
    assert tallies, "the producer did not finish"
    tally = tallies[0]
    final = _start(env, log, "--until-idle", "6s")
    assert final.wait(timeout=600) == 0, log.read_text(errors="replace")[-3000:]

    spark = get_session(load_settings(engine="sail", home=REPO / ".esteira"))
    gold_rows = spark.read.format("delta").load(str(root / "gold")).collect()
    got = Counter({
        (r["customer_id"], r["customer_name"], r["channel"], r["minute"].strftime(
            "%Y-%m-%dT%H:%M:00")): r["notifications"]
        for r in gold_rows
    })
    assert sum(got.values()) == tally.expected_total
    assert got == tally.per_minute
    kinds = tally.kinds
    assert kinds["duplicate"] > 0 and kinds["late"] > 0 and kinds["too_late"] > 0

    silver_df = spark.read.format("delta").load(str(root / "silver"))
    assert silver_df.count() == silver_df.select("message_id").distinct().count()
    assert silver_df.count() == tally.expected_total
    bronze = spark.read.format("delta").load(str(root / "bronze"))
    assert bronze.count() == bronze.select("partition", "offset").distinct().count() == tally.sent

    reasons = Counter()
    for r in spark.read.format("delta").load(str(root / "rejects")).collect():
        reasons[r["reason"].split(":")[0]] += 1
    assert reasons == {"not JSON": kinds["not_json"], "missing field": kinds["missing_field"],
                       "wrong type": kinds["wrong_type"], "too late": kinds["too_late"]}
