"""Issue 6 rules 3-4, issue 13 item 2: SIGKILL the stream at three exact points of a batch.

Real broker (tests/service_fixtures.py), real JVM Spark in a child process, real Delta
tables. The job's fault-injection point (`ESTEIRA_STREAM_PAUSE_AT`, esteira.notifications.
job) holds the first batch after batch 0 (the tables exist then) with new messages and
rejects at a named point and says which batch it is; the test kills the process group
there, then reads the Delta logs and the checkpoint to show the kill hit that moment:
1. before any write: the batch is in no table, its offsets are logged, not committed;
2. after gold's MERGE: gold has it (its txn version), the rollup, silver and rejects not;
3. after every write: every table has it, the checkpoint has not committed it.
Each restart replays the same offsets (Spark logged them before the kill), so the three
kills hit the same batch and each replay path runs in turn: write everything, skip gold
and write the rest, skip everything. After a last run until idle: one commit per batch
in each table, gold (one row per customer, channel and minute) equal to the generator's
distinct counts, silver one row per message_id, bronze every record once, rejects every
broken record with its reason.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from esteira.datagen.notifications import Spec, Tally, produce
from esteira.engine import get_session
from esteira.notifications.micro_batch import PAUSE_AT
from esteira.settings import load_settings
from notifications.stream_helpers import (
    REPO,
    checkpoint_has,
    commit_batch_ids,
    kill,
    start_stream,
    stream_env,
    txn_versions,
    wait_for,
)

pytestmark = [pytest.mark.spark_only, pytest.mark.slow]
WRITTEN = ("gold", "rollup", "silver", "rejects")  # by the dedupe query, with txn ids


def _pause_and_kill(env: dict[str, str], log: Path, phase: str, marker: Path) -> dict:
    """Starts the stream held at `phase` of a batch, kills it there; the batch's id/counts."""
    proc = start_stream({**env, PAUSE_AT: f"{phase}:{marker}"}, log)
    wait_for(marker.exists, proc, f"a batch to reach {phase}")
    kill(proc)
    return json.loads(marker.read_text())


def _in(root: Path, batch: int) -> dict[str, int]:
    """Commits of `batch` per table, from the tables' _delta_log files."""
    return {name: txn_versions(root / name)[batch] for name in WRITTEN}


def test_sigkill_at_three_points_of_a_batch_loses_nothing_and_counts_nothing_twice(
    kafka_bootstrap: str, kafka_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = kafka_topic(partitions=3)
    root = tmp_path / "lake"
    env = stream_env(topic=topic, partitions="3", root=str(root), trigger_seconds="0.5",
                     max_offsets_per_trigger="500")
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

    first = _pause_and_kill(env, log, "before-writes", tmp_path / "kill1")
    n = first["batch_id"]
    offsets = (root / "checkpoint" / "offsets" / str(n)).read_text()
    assert _in(root, n) == dict.fromkeys(WRITTEN, 0)  # 1: in no table
    assert 0 < n and max(txn_versions(root / "gold")) < n  # ... which hold earlier batches
    assert checkpoint_has(root, "offsets", n) and not checkpoint_has(root, "commits", n)

    second = _pause_and_kill(env, log, "after-gold", tmp_path / "kill2")
    assert second == first  # the replay read the same offsets against the same state
    assert _in(root, n) == {"gold": 1, "rollup": 0, "silver": 0, "rejects": 0}  # 2
    assert commit_batch_ids(root / "gold")[n] == 1
    assert not checkpoint_has(root, "commits", n)

    third = _pause_and_kill(env, log, "after-writes", tmp_path / "kill3")
    assert third == first
    assert _in(root, n) == dict.fromkeys(WRITTEN, 1)  # 3: every table has it once
    assert not checkpoint_has(root, "commits", n)  # ... and Spark has not recorded it
    assert (root / "checkpoint" / "offsets" / str(n)).read_text() == offsets

    producer.join(timeout=180)
    assert tallies, "the producer did not finish"
    tally = tallies[0]
    # the rest of the backlog in one batch after the replay (which reads its logged offsets)
    final = start_stream({**env, "ESTEIRA_NOTIFICATIONS__MAX_OFFSETS_PER_TRIGGER": "100000"},
                         log, "--until-idle", "6s")
    assert final.wait(timeout=600) == 0, log.read_text(errors="replace")[-3000:]

    # the last replay of batch n ran (its line is logged once: the killed runs never
    # reached it) and skipped every write: still one commit per table, now committed
    text = log.read_text(errors="replace")
    assert len(re.findall(rf"batch {n}: {first['new']} new, {first['rejected']} rejected",
                          text)) == 1
    assert text.count("waiting to be killed") == 3
    assert checkpoint_has(root, "commits", n)
    for name in WRITTEN:
        per_batch = txn_versions(root / name)
        assert per_batch[n] == 1 and max(per_batch.values()) == 1, name

    spark = get_session(load_settings(engine="sail", home=REPO / ".esteira"))
    _check_tables(spark, root, tally)


def _check_tables(spark, root: Path, tally: Tally) -> None:
    gold_rows = spark.read.format("delta").load(str(root / "gold")).collect()
    keys = [(r["customer_id"], r["customer_name"], r["channel"],
             r["minute"].strftime("%Y-%m-%dT%H:%M:00")) for r in gold_rows]
    assert len(keys) == len(set(keys)), "a gold key has more than one row"
    got = Counter(dict(zip(keys, (r["notifications"] for r in gold_rows), strict=True)))
    assert got == tally.per_minute
    assert sum(got.values()) == tally.expected_total
    kinds = tally.kinds
    assert kinds["duplicate"] > 0 and kinds["late"] > 0 and kinds["too_late"] > 0

    if (root / "rollup").is_dir():  # per customer, channel and hour, from the same tally
        hourly: Counter = Counter()
        for (cid, name, channel, minute), n in tally.per_minute.items():
            hourly[(cid, name, channel, minute[:13])] += n
        rollup = spark.read.format("delta").load(str(root / "rollup")).collect()
        got_hourly = [((r["customer_id"], r["customer_name"], r["channel"],
                        r["last_minute"].strftime("%Y-%m-%dT%H")), r["notifications"])
                      for r in rollup]
        assert len(got_hourly) == len(dict(got_hourly)), "a rollup key has more than one row"
        assert Counter(dict(got_hourly)) == hourly

    silver = spark.read.format("delta").load(str(root / "silver"))
    assert silver.count() == silver.select("message_id").distinct().count()
    assert silver.count() == tally.expected_total
    bronze = spark.read.format("delta").load(str(root / "bronze"))
    assert bronze.count() == bronze.select("partition", "offset").distinct().count() == tally.sent

    reasons = Counter()
    for r in spark.read.format("delta").load(str(root / "rejects")).collect():
        reasons[r["reason"].split(":")[0]] += 1
    assert reasons == {"not JSON": kinds["not_json"], "missing field": kinds["missing_field"],
                       "wrong type": kinds["wrong_type"], "too late": kinds["too_late"]}
