"""What every benchmark shares: each engine measured in a child process of its own,
repeated runs reported as cold and warm, and a check of every run's output.

pyspark holds either Spark Connect sessions (Sail) or one JVM session per process, and a
child must not inherit the parent's Connect-mode flag. A worker prints its figures as one
JSON object on its last line of output.

Cold and warm: a worker times its first run (a fresh process: the engine is started
but the first query plans, compiles and reads with every cache cold) and then
`--repeat` more runs of the same work in the same process (warm). Every benchmark
prints the cold figure and the warm median with its spread (min-max). Sizes: quick by
default, the issue's sizes with `--full`. A benchmark checks what each run produced
against a tally of its own (counts from the generator or the input read directly), and
stops with "CHECK FAILED" when they differ: a fast wrong answer is not a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def cpu_ticks() -> tuple[int, int]:
    """(stolen, all) CPU ticks since boot, from /proc/stat ((0, 0) elsewhere): two
    readings give the share of the machine's CPU time its host took meanwhile (steal),
    which slows every figure on a shared machine."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks[:8])


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of CPU time stolen between two cpu_ticks() readings (0 when unknown)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


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
        ratio = warm_median(results["spark"]) / warm_median(results["sail"])
        print(f"spark/sail wall time (warm medians): {ratio:.2f}x")
    if "sail" in results:
        verdict = "met" if warm_median(results["sail"]) < target_s else "missed"
        print(f"target (sail under {target_s} s at full size, warm median): {verdict} at {size}")


def base_parser(doc: str | None) -> argparse.ArgumentParser:
    """--repeat and --full, which every benchmark takes."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="warm runs after the cold one (medians and min-max of these)")
    parser.add_argument("--full", action="store_true",
                        help="the issue's sizes (default: quick sizes, a look in minutes)")
    return parser


def engine_parser(doc: str | None, scale: bool = True,
                  quick: float = 0.05) -> argparse.ArgumentParser:
    """The options of a batch benchmark: size, engines, repetitions, partitions.
    `--scale` (a fraction of the full size) defaults to `quick`, or 1 with --full."""
    parser = base_parser(doc)
    if scale:
        parser.add_argument("--scale", type=float, default=None,
                            help=f"fraction of the full size (default {quick:g}; 1 with --full)")
        parser.set_defaults(quick_scale=quick)
    parser.add_argument("--engines", default="sail,spark")
    parser.add_argument("--partitions", type=int, default=8)
    return parser


def scale_of(args: argparse.Namespace) -> float:
    if args.scale is not None:
        return args.scale
    return 1.0 if args.full else args.quick_scale


def timed_runs(run, repeat: int) -> tuple[dict, object]:
    """Runs `run()` once cold and `repeat` times warm; ({"cold": s, "warm": [s...]}, the
    last run's result)."""
    times, result = [], None
    for _ in range(1 + max(repeat, 0)):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return {"cold": times[0], "warm": times[1:]}, result


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    """'median (min-max, n)' of a list of figures."""
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f} {unit} (n=1)"
    return (f"{med:.{digits}f} {unit} (min {min(values):.{digits}f} - max "
            f"{max(values):.{digits}f}, n={len(values)})")


def cold_warm(timing: dict) -> str:
    """One line: the cold run and the warm median with its spread."""
    return f"cold {timing['cold']:.2f} s | warm {spread(timing['warm'])}"


def warm_median(timing: dict) -> float:
    """The warm median (the cold run when there is no warm one): for rates and ratios."""
    return statistics.median(timing["warm"]) if timing["warm"] else timing["cold"]


def check(ok: bool, what: str) -> str:
    """A benchmark's check of its own output: stops the benchmark when it fails."""
    if not ok:
        raise SystemExit(f"CHECK FAILED: {what}")
    return what


def print_checks(label: str, checks: list[str]) -> None:
    for line in checks:
        print(f"  check ok ({label}): {line}")
