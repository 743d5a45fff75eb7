"""Benchmark: the notification stream on this machine, broker + generator + stream local.

(a) Sustained throughput: for each rate of a ladder, send real-time traffic for
    `--seconds` (120 by default) to a fresh topic while the stream (JVM Spark, in a
    child process) runs, sample the consumer lag (broker high watermarks minus the
    offsets of the last finished micro-batch) every 2 s, and call the rate sustained
    when the lag does not grow over the second half of the window. Reports the highest.
(b) Freshness at 5,000 msg/s: time from a message reaching the broker (its
    LogAppendTime) to the commit of the gold MERGE that counted it (the commit's
    timestamp in gold's Delta log, found by its txn version = the silver row's
    batch_id), p50 and p95 over every message.

Both queries' lag is watched: records on the broker not yet in a batch the query's
checkpoint committed (the dedupe query's and bronze's, read from their checkpoints'
offsets/ and commits/). Every run ends with its check: once both queries caught up,
gold equals the generator's tally per customer, channel and minute (one row per key),
silver holds one row per counted message, bronze every record sent; a run whose check
fails stops the benchmark. Cold and warm: each run is a fresh stream process (cold JVM);
the throughput window includes its start, freshness is measured after --warmup s of
traffic (warm) and the warm-up's own figures are printed as cold. --repeat runs of
each; medians and spread (min-max). RocksDB bytes per id: what the state store wrote
(rocksdbTotalBytesWritten) per new id (numRowsUpdated), from the stream's progress.

    .venv/bin/python bench/notifications_stream.py            # quick: 5,000 msg/s, 30 s
    .venv/bin/python bench/notifications_stream.py --full     # ladder to 30,000, 120 s
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from common import base_parser, check, spread

from esteira.connectors import kafka as kafka_io
from esteira.connectors import kafka_topics
from esteira.datagen.notifications import Spec, Tally, produce
from esteira.engine import get_session
from esteira.services import kafka as kafka_service
from esteira.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 6


class Trial:
    """One fresh topic and lake, one stream child process, one producer thread."""

    def __init__(self, work: Path, rate: float, seconds: float, trigger: float) -> None:
        self.rate, self.seconds = rate, seconds
        self.topic = f"bench-notif-{uuid.uuid4().hex[:8]}"
        self.root = work / self.topic
        self.progress = self.root.parent / f"{self.topic}.progress.jsonl"
        knobs = {
            "topic": self.topic,
            "partitions": str(PARTITIONS),
            "root": str(self.root),
            "trigger_seconds": str(trigger),
            "starting_offsets": "earliest",
        }
        inherited = {
            k: v
            for k, v in os.environ.items()  # no Spark Connect mode for the child
            if not k.startswith("SPARK_CONNECT") and k not in ("SPARK_REMOTE", "SPARK_LOCAL_REMOTE")
        }
        self.env = {
            **inherited,
            "ESTEIRA_HOME": str(REPO / ".esteira"),
            **{f"ESTEIRA_NOTIFICATIONS__{k.upper()}": v for k, v in knobs.items()},
        }
        self.settings = load_settings(home=REPO / ".esteira", notifications=knobs)
        self.bootstrap = kafka_service.bootstrap_servers(self.settings)
        self.log = self.root.parent / f"{self.topic}.log"
        self.proc: subprocess.Popen | None = None

    def start_stream(self, *extra: str) -> None:
        kafka_topics.create_topic(self.bootstrap, self.topic, PARTITIONS)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "esteira.cli",
                "--engine",
                "spark",
                "notifications",
                "stream",
                "--progress-log",
                str(self.progress),
                *extra,
            ],
            env=self.env,
            cwd=REPO,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300
        while not (self.root / "checkpoint" / "metadata").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the stream did not start; see {self.log}")
            time.sleep(0.5)
        time.sleep(3)  # the first (empty) trigger

    def produce(self, seconds: float | None = None) -> tuple[threading.Thread, list]:
        spec = Spec(
            rate=self.rate,
            duration=seconds or self.seconds,
            customers=2000,
            start=datetime.now(UTC),
            duplicates=0.01,
            late=0.001,
            bad=0.0005,
        )
        done: list = []
        thread = threading.Thread(
            target=lambda: done.append(produce(self.bootstrap, self.topic, spec,
                                               partitions=PARTITIONS, send_rate=self.rate)),
            daemon=True,
        )
        thread.start()
        return thread, done

    def processed_offsets(self, checkpoint: str = "checkpoint") -> int:
        """Records the query's checkpoint has committed (its last committed batch's end
        offsets): `checkpoint` for the dedupe query, `checkpoint_bronze` for bronze."""
        folder = self.root / checkpoint
        commits = [int(p.name) for p in (folder / "commits").glob("[0-9]*")]
        if not commits:
            return 0
        last = (folder / "offsets" / str(max(commits))).read_text(encoding="utf-8")
        return sum(int(v) for v in json.loads(last.strip().splitlines()[-1])[self.topic].values())

    def lags(self) -> tuple[int, int]:
        """(dedupe, bronze) records on the broker not yet committed by each query."""
        high = self.high_watermarks()
        return high - self.processed_offsets(), high - self.processed_offsets("checkpoint_bronze")

    def rocksdb_bytes_per_id(self) -> float | None:
        written = ids = 0
        for line in self.progress.read_text(encoding="utf-8").splitlines():
            for op in json.loads(line).get("stateOperators") or []:
                written += (op.get("customMetrics") or {}).get("rocksdbTotalBytesWritten", 0)
                ids += op.get("numRowsUpdated", 0)
        return written / ids if ids else None

    def batches_done(self) -> int:
        if not self.progress.exists():
            return 0
        return len(self.progress.read_text(encoding="utf-8").strip().splitlines())

    def high_watermarks(self) -> int:
        consumer = kafka_io.consumer(self.bootstrap)
        try:
            from confluent_kafka import TopicPartition

            return sum(
                consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
                for p in range(PARTITIONS)
            )
        finally:
            consumer.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        kafka_topics.delete_topics(self.bootstrap, [self.topic])


def throughput_step(work: Path, rate: float, seconds: float, trigger: float) -> dict:
    """Lag sampled each time a micro-batch finishes: what arrived while it ran. When the
    stream keeps up this stays level; when it falls behind every batch is bigger than the
    last and the lag climbs. Bronze's lag is sampled beside it."""
    trial = Trial(work, rate, seconds, trigger)
    try:
        trial.start_stream()
        thread, done = trial.produce()
        began = time.monotonic()
        samples: list[tuple[float, int, int]] = []
        batches = 0
        while thread.is_alive():
            time.sleep(0.5)
            finished = trial.batches_done()
            if finished > batches:
                batches = finished
                samples.append((time.monotonic() - began, *trial.lags()))
        thread.join()
        sent_in = time.monotonic() - began
        drain_began = time.monotonic()
        while trial.lags()[0] > 0:
            if time.monotonic() - drain_began > seconds:
                break
            time.sleep(0.5)
        drain = time.monotonic() - drain_began
        caught_up = _wait_caught_up(trial, max(seconds, 120))
        checks = check_tables(trial, done[0]) if caught_up and done else [
            f"not checked: still behind {max(seconds, 120):.0f} s after sending stopped"]
    finally:
        trial.stop()
    sent = done[0].sent if done else 0
    achieved = sent / sent_in if sent_in else 0
    lags = [lag for _, lag, _ in samples[1:]]  # the first batch also warms the JVM up
    # the lag after each batch is what arrived while it ran: level when keeping up,
    # climbing when each batch is bigger than the last; fewer than two: cannot tell
    growing = len(lags) < 2 or lags[-1] > 1.5 * min(lags) + rate * trigger
    kept_up = achieved >= 0.9 * rate and not growing and drain <= 0.15 * seconds + 10
    verdict = (
        "keeps up"
        if kept_up
        else "cannot tell (under two batches after the first)"
        if len(lags) < 2
        else "falls behind"
    )
    return {
        "rate": rate,
        "achieved": achieved,
        "lags": [lag for _, lag, _ in samples],
        "bronze_lags": [lag for _, _, lag in samples],
        "drain": drain,
        "kept_up": kept_up,
        "verdict": verdict,
        "checks": checks,
        "bytes_per_id": trial.rocksdb_bytes_per_id(),
    }


def _wait_caught_up(trial: Trial, timeout: float) -> bool:
    """Until both queries committed every record on the broker (bronze triggers less often)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if trial.lags() == (0, 0):
            return True
        time.sleep(1)
    return False


def check_tables(trial: Trial, tally: Tally) -> list[str]:
    """The run's tables against the generator's tally (read with Sail, not the stream)."""
    spark = get_session(load_settings(engine="sail", home=REPO / ".esteira"))
    root = trial.root
    gold = spark.read.format("delta").load(str(root / "gold")).collect()
    keys = [(r["customer_id"], r["customer_name"], r["channel"],
             r["minute"].strftime("%Y-%m-%dT%H:%M:00")) for r in gold]
    per_minute = dict(zip(keys, (r["notifications"] for r in gold), strict=True))
    silver = spark.read.format("delta").load(str(root / "silver")).count()
    bronze = spark.read.format("delta").load(str(root / "bronze")).count()
    return [
        check(len(keys) == len(per_minute), f"gold: one row per key ({len(keys):,} keys)"),
        check(per_minute == dict(tally.per_minute),
              f"gold = the generator's counts per customer, channel and minute "
              f"({tally.expected_total:,} messages)"),
        check(silver == tally.expected_total, f"silver {silver:,} rows = {tally.expected_total:,}"),
        check(bronze == tally.sent, f"bronze {bronze:,} records = {tally.sent:,} sent"),
    ]


def freshness(work: Path, rate: float, seconds: float, trigger: float, warmup: float) -> dict:
    """Latency of every message that reached the broker after `warmup` seconds of the same
    traffic (a stream runs for days: its first batches, while the JVM compiles the plan,
    are not its steady state); the warm-up's own figures are reported beside it."""
    trial = Trial(work, rate, seconds, trigger)
    try:
        trial.start_stream("--until-idle", "15s")
        thread, done = trial.produce(warmup + seconds)
        measured_from_us = int((time.time() + warmup) * 1e6)
        thread.join()
        trial.proc.wait(timeout=1800)
        checks = check_tables(trial, done[0])
        bytes_per_id = trial.rocksdb_bytes_per_id()
    finally:
        trial.stop()
    spark = get_session(load_settings(engine="sail", home=REPO / ".esteira"))
    silver = spark.read.format("delta").load(str(trial.root / "silver"))
    commits = spark.createDataFrame(
        gold_commits(trial.root / "gold"), "app_id string, batch_id long, committed_ms long"
    )
    rows = (
        silver.join(commits, ["app_id", "batch_id"])
        .selectExpr("committed_ms * 1000 - unix_micros(kafka_timestamp) AS us",
                    f"unix_micros(kafka_timestamp) >= {measured_from_us} AS measured")
        .collect()
    )
    return {
        "steady": _latencies([r["us"] for r in rows if r["measured"]]),
        "warmup": _latencies([r["us"] for r in rows if not r["measured"]]),
        "checks": checks,
        "bytes_per_id": bytes_per_id,
    }


def _latencies(micros: list[int]) -> dict:
    latencies = sorted(us / 1e6 for us in micros)
    return {
        "messages": len(latencies),
        "p50": _pct(latencies, 0.50),
        "p95": _pct(latencies, 0.95),
        "max": latencies[-1] if latencies else None,
    }


def gold_commits(gold: Path) -> list[tuple[str, int, int]]:
    """(txn appId, txn version = batch id, commit time in ms) of each gold commit."""
    out = []
    for entry in sorted((gold / "_delta_log").glob("*.json")):
        txn, when = None, None
        for line in entry.read_text(encoding="utf-8").splitlines():
            action = json.loads(line)
            if "txn" in action:
                txn = action["txn"]
            if "commitInfo" in action:
                when = action["commitInfo"]["timestamp"]
        if txn is not None and when is not None:
            out.append((txn["appId"], int(txn["version"]), int(when)))
    return out


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--short", action="store_true", help="60 s per step")
    parser.add_argument("--seconds", type=float, default=None, help="default 30; --full 120")
    parser.add_argument("--rates", default=None, help="default 5000; --full 2500,...,30000")
    parser.add_argument("--trigger", type=float, default=2.0, help="trigger interval (s)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of traffic before freshness is measured: a cold JVM's "
                        "first batches build a backlog that takes about a minute to drain "
                        "(default 20; --full 60)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="keep the lakes and stream logs (printed path) for a look")
    args = parser.parse_args()
    seconds = 60 if args.short else args.seconds or (120 if args.full else 30)
    rates = args.rates or ("2500,5000,10000,20000,30000" if args.full else "5000")
    warmup = args.warmup if args.warmup is not None else (60 if args.full else 20)
    kafka_service.up(load_settings(home=REPO / ".esteira"))
    work = Path(tempfile.mkdtemp(prefix="bench-notif-"))
    cores = os.cpu_count()
    per_id: list[float] = []
    try:
        if not args.skip_throughput:
            print(
                f"(a) sustained throughput, {seconds:.0f} s per rate, {cores} cores, "
                f"trigger {args.trigger:g} s, {PARTITIONS} partitions, {args.repeat} runs per "
                "rate (each a cold stream process; the window includes its start)"
            )
            best = throughput_ladder(work, rates, seconds, args, per_id)
            print(
                f"  highest rate kept up in most runs: {best or 0:,.0f} msg/s "
                f"(target 20,000; ratio {(best or 0) / 20000:.2f})"
            )
        if not args.skip_freshness:
            freshness_runs(work, seconds, warmup, args, per_id)
        if per_id:
            print(f"RocksDB bytes written per new id (state store): {spread(per_id, 'B', 0)}")
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def throughput_ladder(work: Path, rates: str, seconds: float, args, per_id: list) -> float | None:
    best = None
    for rate in (float(r) for r in rates.split(",")):
        steps = []
        for run in range(args.repeat):
            step = throughput_step(work, rate, seconds, args.trigger)
            steps.append(step)
            if step["bytes_per_id"]:
                per_id.append(step["bytes_per_id"])
            lags = ", ".join(f"{lag:,}" for lag in step["lags"])
            bronze = ", ".join(f"{lag:,}" for lag in step["bronze_lags"])
            print(
                f"  {rate:>8,.0f} msg/s run {run + 1}: sent {step['achieved']:>8,.0f}/s, lag "
                f"after each batch [{lags}] (bronze [{bronze}]), drained in "
                f"{step['drain']:.0f} s -> {step['verdict']} (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            for line in step["checks"]:
                print(f"      check: {line}")
        kept = sum(step["kept_up"] for step in steps)
        last_lags = [float(s["lags"][-1]) for s in steps if s["lags"]]
        print(f"  {rate:>8,.0f} msg/s: kept up in {kept} of {len(steps)}; last lag "
              f"{spread(last_lags, 'records', 0)}; drained in "
              f"{spread([s['drain'] for s in steps], 's', 0)}")
        if kept * 2 <= len(steps):
            break
        best = rate
    return best


def freshness_runs(work: Path, seconds: float, warmup: float, args, per_id: list) -> None:
    steady: dict[str, list[float]] = {"p50": [], "p95": [], "max": []}
    cold: dict[str, list[float]] = {"p50": [], "p95": []}
    for run in range(args.repeat):
        fresh = freshness(work, 5000, seconds, args.trigger, warmup)
        if fresh["bytes_per_id"]:
            per_id.append(fresh["bytes_per_id"])
        for key, values in steady.items():
            values.append(fresh["steady"][key])
        for key, values in cold.items():
            if fresh["warmup"]["messages"]:
                values.append(fresh["warmup"][key])
        print(f"  freshness run {run + 1}: warm p50 {fresh['steady']['p50']:.1f} s, p95 "
              f"{fresh['steady']['p95']:.1f} s ({fresh['steady']['messages']:,} msgs; load "
              f"{os.getloadavg()[0]:.1f})", flush=True)
        for line in fresh["checks"]:
            print(f"      check: {line}")
    print(
        f"(b) freshness at 5,000 msg/s, {args.repeat} runs, {seconds:.0f} s measured after "
        f"{warmup:.0f} s of warm-up ({os.cpu_count()} cores): warm p50 {spread(steady['p50'])}, "
        f"p95 {spread(steady['p95'])}, max {spread(steady['max'])} (target p95 < 15 s)"
    )
    if cold["p50"]:
        print(f"    cold (the warm-up: first batches of a cold JVM): p50 {spread(cold['p50'])}, "
              f"p95 {spread(cold['p95'])}")


if __name__ == "__main__":
    main()
