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

    .venv/bin/python bench/notifications_stream.py               # 120 s per step
    .venv/bin/python bench/notifications_stream.py --short       # 60 s per step, a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from esteira.connectors import kafka as kafka_io
from esteira.datagen.notifications import Spec, produce
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
        kafka_io.create_topic(self.bootstrap, self.topic, PARTITIONS)
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

    def processed_offsets(self) -> int:
        if not self.progress.exists():
            return 0
        lines = self.progress.read_text(encoding="utf-8").strip().splitlines()
        if not lines:
            return 0
        end = json.loads(lines[-1])["sources"][0]["endOffset"]
        end = json.loads(end) if isinstance(end, str) else end
        return sum(int(v) for v in end[self.topic].values())

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
        kafka_io.delete_topics(self.bootstrap, [self.topic])


def throughput_step(work: Path, rate: float, seconds: float, trigger: float) -> dict:
    """Lag sampled each time a micro-batch finishes: what arrived while it ran. When the
    stream keeps up this stays level; when it falls behind every batch is bigger than the
    last and the lag climbs."""
    trial = Trial(work, rate, seconds, trigger)
    try:
        trial.start_stream()
        thread, done = trial.produce()
        began = time.monotonic()
        samples: list[tuple[float, int]] = []
        batches = 0
        while thread.is_alive():
            time.sleep(0.5)
            finished = trial.batches_done()
            if finished > batches:
                batches = finished
                samples.append(
                    (time.monotonic() - began, trial.high_watermarks() - trial.processed_offsets())
                )
        thread.join()
        sent_in = time.monotonic() - began
        drain_began = time.monotonic()
        while trial.high_watermarks() > trial.processed_offsets():
            if time.monotonic() - drain_began > seconds:
                break
            time.sleep(0.5)
        drain = time.monotonic() - drain_began
    finally:
        trial.stop()
    sent = done[0].sent if done else 0
    achieved = sent / sent_in if sent_in else 0
    lags = [lag for _, lag in samples[1:]]  # the first batch also warms the JVM up
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
        "lags": [lag for _, lag in samples],
        "drain": drain,
        "kept_up": kept_up,
        "verdict": verdict,
    }


def freshness(work: Path, rate: float, seconds: float, trigger: float, warmup: float) -> dict:
    """Latency of every message that reached the broker after `warmup` seconds of the same
    traffic (a stream runs for days: its first batches, while the JVM compiles the plan,
    are not its steady state); the warm-up's own figures are reported beside it."""
    trial = Trial(work, rate, seconds, trigger)
    try:
        trial.start_stream("--until-idle", "15s")
        thread, _ = trial.produce(warmup + seconds)
        measured_from_us = int((time.time() + warmup) * 1e6)
        thread.join()
        trial.proc.wait(timeout=1800)
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


def _slope(points: list[tuple[float, int]]) -> float:
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="60 s per step")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--rates", default="2500,5000,10000,20000,30000")
    parser.add_argument("--trigger", type=float, default=2.0, help="trigger interval (s)")
    parser.add_argument("--warmup", type=float, default=60,
                        help="seconds of traffic before freshness is measured: a cold JVM's "
                        "first batches build a backlog that takes about a minute to drain")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="keep the lakes and stream logs (printed path) for a look")
    args = parser.parse_args()
    seconds = 60 if args.short else args.seconds
    kafka_service.up(load_settings(home=REPO / ".esteira"))
    work = Path(tempfile.mkdtemp(prefix="bench-notif-"))
    cores = os.cpu_count()
    try:
        best = None
        if not args.skip_throughput:
            print(
                f"(a) sustained throughput, {seconds:.0f} s per rate, {cores} cores, "
                f"trigger {args.trigger:g} s, {PARTITIONS} partitions"
            )
            for rate in (float(r) for r in args.rates.split(",")):
                step = throughput_step(work, rate, seconds, args.trigger)
                lags = ", ".join(f"{lag:,}" for lag in step["lags"])
                print(
                    f"  {rate:>8,.0f} msg/s: sent {step['achieved']:>8,.0f}/s, lag after "
                    f"each batch [{lags}], drained in {step['drain']:.0f} s -> "
                    f"{step['verdict']} (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
                if not step["kept_up"]:
                    break
                best = rate
            print(
                f"  highest sustained rate: {best or 0:,.0f} msg/s "
                f"(target 20,000; ratio {(best or 0) / 20000:.2f})"
            )
        if args.skip_freshness:
            return
        fresh = freshness(work, 5000, seconds, args.trigger, args.warmup)
        steady, warm = fresh["steady"], fresh["warmup"]
        print(
            f"(b) freshness at 5,000 msg/s for {seconds:.0f} s after {args.warmup:.0f} s of "
            f"warm-up ({steady['messages']:,} msgs, {cores} cores): p50 {steady['p50']:.1f} s,"
            f" p95 {steady['p95']:.1f} s, max {steady['max']:.1f} s (target p95 < 15 s; "
            f"ratio {steady['p95'] / 15:.2f}; load {os.getloadavg()[0]:.1f})"
        )
        if warm["messages"]:
            print(
                f"    during the warm-up ({warm['messages']:,} msgs, first batches of a cold "
                f"JVM): p50 {warm['p50']:.1f} s, p95 {warm['p95']:.1f} s, max {warm['max']:.1f} s"
            )
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
