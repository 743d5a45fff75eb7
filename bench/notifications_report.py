"""Benchmark: the detailed report (`notifications report`) of one very busy customer.

5,000,000 messages of one customer in a day, among 1,000,000 of 999 others, in silver
(written as the stream leaves it). Timed: the customer's local day (its extra 1% in
the next day left out) to a txt file: resolve the customer, plan the event-time
chunks, stream them to the file. Issue 14: bounded memory, under 1 GB for 5M messages:
the worker's peak resident memory is printed (on sail the engine runs inside the
worker, so it is counted; on spark the JVM is not). Checked on every run: the file
holds exactly the customer's messages of the day (the generator's tally), one
`Mensagem ID` line each, in event-time order.

    .venv/bin/python bench/notifications_report.py           # quick: 500,000 messages
    .venv/bin/python bench/notifications_report.py --full    # 5M messages
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from billing_day import ACME, DAY, generate
from common import (
    check,
    cold_warm,
    engine_parser,
    print_checks,
    run_worker,
    scale_of,
    spread,
    warm_median,
)

from esteira.engine import get_session
from esteira.settings import load_settings

FULL = 5_000_000


def sizes(scale: float) -> dict[int, int]:
    others = int(FULL * scale / 5)
    return {ACME: int(FULL * scale)} | {2_000 + i: others // 999 for i in range(999)}


def worker(args: argparse.Namespace) -> None:
    expected = sizes(args.scale)[ACME]
    if args.worker == "generate":
        generate(get_session(load_settings(engine="sail")), args.data / "n", sizes(args.scale))
        print(json.dumps({}))
        return
    from esteira.notifications.report import ReportRequest, run

    settings = load_settings(engine=args.worker, notifications={"root": str(args.data / "n")})
    session = get_session(settings)
    times, cpu, checks = [], [], []
    out = args.data / f"report-{args.worker}.txt"
    for i in range(1 + args.repeat):
        begin, used = time.perf_counter(), _cpu()
        request = ReportRequest.parse(str(ACME), out, "txt", DAY.isoformat(), DAY.isoformat())
        result = run(settings, session, request)
        times.append(time.perf_counter() - begin)
        cpu.append(_cpu() - used)
        ids, previous, ordered = 0, "", True
        with out.open(encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Mensagem ID"):
                    ids += 1
                elif line.startswith("Data hora"):
                    ordered &= line >= previous
                    previous = line
        checks = [
            check(
                ids == result.messages == expected,
                f"run {i + 1}: {ids:,} messages in the file = {expected:,} generated",
            ),
            check(ordered, f"run {i + 1}: event times in order"),
        ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        json.dumps(
            {
                "cold": times[0],
                "warm": times[1:],
                "cpu": cpu[1:],
                "checks": checks,
                "peak_gb": peak,
                "mb": out.stat().st_size / 1e6,
            }
        )
    )


def _cpu() -> float:
    """CPU seconds of this process (Sail runs inside it) and of its children (the JVM):
    on a busy machine, the wall time less what waiting cost."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = engine_parser(__doc__, quick=0.1)
    parser.set_defaults(engines="sail")
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    args.scale = scale_of(args)
    args.data = Path(tempfile.mkdtemp(prefix="bench-report-"))

    def child(step: str) -> dict:
        return run_worker(
            [
                sys.executable,
                __file__,
                "--worker",
                step,
                "--data",
                str(args.data),
                "--scale",
                str(args.scale),
                "--repeat",
                str(args.repeat),
            ],
            step,
        )

    try:
        child("generate")
        n = sizes(args.scale)[ACME]
        print(
            f"data: {n:,} messages of one customer among {sum(sizes(args.scale).values()):,}"
            f"; cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}; cold = "
            f"first run in its process, warm = median (min-max) of {args.repeat} after it"
        )
        results = {e: child(e) for e in args.engines.split(",")}
    finally:
        shutil.rmtree(args.data, ignore_errors=True)
    for engine, r in results.items():
        print(
            f"{engine:8} {cold_warm(r)}; cpu (warm) {spread(r['cpu'])}; "
            f"{n / warm_median(r):,.0f} messages/s warm; "
            f"file {r['mb']:,.0f} MB; peak memory of the worker {r['peak_gb']:.2f} GB"
        )
        print_checks(engine, r["checks"])


if __name__ == "__main__":
    main()
