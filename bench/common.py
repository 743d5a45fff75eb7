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


def run_worker(command: list[str], label: str, timeout: float | None = None) -> dict | None:
    """Runs one benchmark worker and returns the JSON object it printed last.

    With `timeout`, a worker still running after that many seconds is killed and None
    is returned: the caller reports "did not finish within" instead of a time.
    """
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CONNECT_MODE_ENABLED"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
