"""Benchmark: `invoices averages` end to end on both engines, same data.

10,000,000 invoice rows of 1,000,000 accounts (a CSV folder, as the seed's invoices.csv),
reference 2020-01, windows 3 and 6. The full job is timed: read, check every row,
average, write the CSV file and read it back for the summary. Each engine runs in a
child process of its own (engine start-up is not timed). Target on sail: under 30 s.

    .venv/bin/python bench/invoices_averages.py               # 10M rows, 1M accounts
    .venv/bin/python bench/invoices_averages.py --scale 0.05  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import engine_parser, print_ratio_and_target, run_worker

from esteira.engine import get_session
from esteira.settings import load_settings

TARGET_S = 30


def worker(args: argparse.Namespace) -> None:
    """In a child process: generates the invoices, or times one engine."""
    if args.worker == "generate":
        from esteira.datagen.invoices import generate_invoices

        session = get_session(load_settings(engine="sail"))
        rows, accounts = sizes(args.scale)
        generate_invoices(session, rows, accounts, seed=7).write.option("header", "true").csv(
            str(args.data / "invoices")
        )
        print(json.dumps({}))
        return
    from esteira.invoices.job import AveragesRequest, run

    settings = load_settings(engine=args.worker, shuffle_partitions=args.partitions)
    session = get_session(settings)
    times, cpu, accounts = [], [], 0
    for i in range(args.repeat):
        start, used = time.perf_counter(), _cpu()
        request = AveragesRequest.parse(
            settings.invoices, input=args.data / "invoices", out=args.data / f"o{i}.csv"
        )
        result = run(settings, session, request)
        times.append(time.perf_counter() - start)
        cpu.append(_cpu() - used)
        accounts = result.accounts
    report = {"seconds": statistics.median(times), "cpu": statistics.median(cpu)}
    print(json.dumps({**report, "accounts": accounts}))


def _cpu() -> float:
    """CPU seconds of this process (Sail runs inside it) and of its children (the JVM)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def cpu_text(engine: str, result: dict) -> str:
    """Sail's CPU time shows how much of the wall time was waiting on a busy machine."""
    return f"{result['cpu']:8.1f}" if engine == "sail" else f"{'-':>8}"


def sizes(scale: float) -> tuple[int, int]:
    return int(10_000_000 * scale), max(1, int(1_000_000 * scale))


def child(step: str, args: argparse.Namespace, data: Path) -> dict:
    command = [sys.executable, __file__, "--worker", step, "--data", str(data)]
    command += ["--scale", str(args.scale), "--repeat", str(args.repeat)]
    command += ["--partitions", str(args.partitions)]
    return run_worker(command, step)


def main() -> None:
    parser = engine_parser(__doc__)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    rows, accounts = sizes(args.scale)
    data = Path(tempfile.mkdtemp(prefix="bench-invoices-"))
    try:
        child("generate", args, data)
        print(
            f"data: {rows:,} invoices (CSV), {accounts:,} accounts; cores: {os.cpu_count()}; "
            f"load average: {os.getloadavg()[0]:.1f}; repeat: {args.repeat} (medians)"
        )
        results = {e: child(e, args, data) for e in args.engines.split(",")}
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"{'engine':8} {'wall s':>8} {'cpu s':>8} {'rows/s':>12} {'accounts':>10}")
    for engine, r in results.items():
        print(
            f"{engine:8} {r['seconds']:8.1f} {cpu_text(engine, r)} {rows / r['seconds']:12,.0f} "
            f"{r['accounts']:>10,}"
        )
    print_ratio_and_target(results, TARGET_S, f"{rows:,} rows")


if __name__ == "__main__":
    main()
