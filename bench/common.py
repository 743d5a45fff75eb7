"""What every benchmark shares: each engine measured in a child process of its own.

pyspark holds either Spark Connect sessions (Sail) or one JVM session per process, and a
child must not inherit the parent's Connect-mode flag. A worker prints its figures as one
JSON object on its last line of output.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path


class WorkerStopped(Exception):
    """A worker killed for running past its time or memory limit (why is the message)."""


def run_worker(
    command: list[str], label: str, timeout: float | None = None, max_rss_gb: float | None = None
) -> dict:
    """Runs one benchmark worker and returns the JSON object it printed last.

    With `timeout` (seconds) or `max_rss_gb` (resident memory of the worker), a worker
    past either limit is killed and WorkerStopped says which: the caller reports "did
    not finish within ..." instead of a time, and the machine stays usable.
    """
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CONNECT_MODE_ENABLED"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
        start = time.monotonic()
        while proc.poll() is None:
            time.sleep(0.5)
            why = None
            if timeout is not None and time.monotonic() - start > timeout:
                why = f"not finished after {timeout:.0f} s"
            elif max_rss_gb is not None and _rss_gb(proc.pid) > max_rss_gb:
                why = f"over {max_rss_gb:g} GB of memory after {time.monotonic() - start:.0f} s"
            if why:
                proc.kill()
                proc.wait()
                raise WorkerStopped(why)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def _rss_gb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 0.0


def print_ratio_and_target(results: dict[str, dict], target_s: float, size: str) -> None:
    """The spark/sail wall-time ratio and whether Sail met its target at this size."""
    if "sail" in results and "spark" in results:
        ratio = results["spark"]["seconds"] / results["sail"]["seconds"]
        print(f"spark/sail wall time: {ratio:.2f}x")
    if "sail" in results:
        verdict = "met" if results["sail"]["seconds"] < target_s else "missed"
        print(f"target (sail under {target_s} s at full size): {verdict} at {size}")


def engine_parser(doc: str | None, scale: bool = True) -> argparse.ArgumentParser:
    """The options every benchmark takes: size, engines, repetitions, partitions."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    if scale:
        parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--engines", default="sail,spark")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=8)
    return parser
