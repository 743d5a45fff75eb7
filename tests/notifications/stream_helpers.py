"""What the stream tests share: the stream in a child process, and reading what it left
on disk (Delta logs, the checkpoint) without going through the code under test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ESTEIRA = [sys.executable, "-m", "esteira.cli"]


def stream_env(**knobs: str) -> dict[str, str]:
    """The child's environment: JVM engine, the repo's home, `notifications.<knob>`s.

    This process may hold Spark Connect sessions (Sail); the child must start a JVM."""
    connect = ("SPARK_REMOTE", "SPARK_LOCAL_REMOTE")
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith("SPARK_CONNECT") and k not in connect}
    return {**inherited, "ESTEIRA_HOME": str(REPO / ".esteira"), "ESTEIRA_ENGINE": "spark",
            **{f"ESTEIRA_NOTIFICATIONS__{k.upper()}": v for k, v in knobs.items()}}


def start_stream(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen:
    out = log.open("ab")
    # its own process group: the kill takes the JVM child along, as a crash would
    return subprocess.Popen([*ESTEIRA, "--engine", "spark", "notifications", "stream", *extra],
                            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen | None, what: str,
             timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the stream exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def txn_versions(table: Path) -> Counter[int]:
    """Commits per Delta transaction version (= the stream's batch id) in a table's log,
    read from the _delta_log JSON files themselves."""
    found: Counter[int] = Counter()
    log = table / "_delta_log"
    for entry in sorted(log.glob("*.json")) if log.is_dir() else []:
        for line in entry.read_text(encoding="utf-8").splitlines():
            action = json.loads(line)
            if "txn" in action:
                found[int(action["txn"]["version"])] += 1
    return found


def commit_batch_ids(table: Path) -> Counter[int]:
    """Commits per `batch_id` in the commits' userMetadata (what a restart reads back)."""
    found: Counter[int] = Counter()
    log = table / "_delta_log"
    for entry in sorted(log.glob("*.json")) if log.is_dir() else []:
        for line in entry.read_text(encoding="utf-8").splitlines():
            info = json.loads(line).get("commitInfo")
            if info and info.get("userMetadata"):
                found[int(json.loads(info["userMetadata"])["batch_id"])] += 1
    return found


def checkpoint_has(root: Path, folder: str, batch_id: int) -> bool:
    """Whether the dedupe query's checkpoint logged (offsets/) or committed (commits/) it."""
    return (root / "checkpoint" / folder / str(batch_id)).is_file()


def progress(progress_log: Path) -> list[dict]:
    """Each dedupe batch's Spark progress, as the stream wrote it (--progress-log)."""
    if not progress_log.exists():
        return []
    return [json.loads(line) for line in progress_log.read_text(encoding="utf-8").splitlines()
            if line.strip()]


KAFKA = "key binary, value binary, topic string, partition int, offset long, " \
        "timestamp timestamp, timestampType int"


def kafka_batch(spark, values: list[bytes], first_offset: int):
    """What the stream hands a micro-batch: these Kafka values (one partition, offsets
    from `first_offset`) parsed and stripped of re-deliveries, as the state store does."""
    from datetime import datetime, timedelta

    from esteira.notifications import transforms

    rows = [(b"k", v, "t", 0, first_offset + i, datetime(2026, 1, 1), 1)
            for i, v in enumerate(values)]
    kafka = transforms.bronze_rows(spark.createDataFrame(rows, KAFKA), datetime(2026, 1, 1))
    return transforms.first_deliveries(transforms.parse_messages(kafka), timedelta(hours=24))
