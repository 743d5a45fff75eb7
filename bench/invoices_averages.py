"""Benchmark: `invoices averages` end to end on both engines, same data.

10,000,000 invoice rows of 1,000,000 accounts (a CSV folder, as the seed's invoices.csv),
reference 2020-01, windows 3 and 6. The full job is timed: read, check every row,
average, write the CSV file and read it back for the summary. Each engine runs in a
child process of its own (engine start-up is not timed). Target on sail: under 30 s.
Each engine: the cold run (first in its process) and the median (min-max) of --repeat
warm runs. Checked on every run: the CSV written has one line per account of the input
(the distinct accounts counted from the input directly) and as many as the job reports.

    .venv/bin/python bench/invoices_averages.py          # quick: 500,000 rows, 50,000 accounts
    .venv/bin/python bench/invoices_averages.py --full   # 10M rows, 1M accounts
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

from common import (
    check,
    cold_warm,
    engine_parser,
    print_checks,
    print_ratio_and_target,
    run_worker,
    scale_of,
    spread,
    warm_median,
)

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
    times, cpu, checks = [], [], []
    expected = session.read.option("header", "true").csv(
        str(args.data / "invoices")).select("account").distinct().count()
    for i in range(1 + args.repeat):  # the first is cold
        start, used = time.perf_counter(), _cpu()
        out = args.data / f"o{args.worker}{i}.csv"
        request = AveragesRequest.parse(settings.invoices, input=args.data / "invoices", out=out)
        result = run(settings, session, request)
        times.append(time.perf_counter() - start)
        cpu.append(_cpu() - used)
        lines = sum(1 for _ in out.open(encoding="utf-8")) - 1  # less the header
        checks.append(check(lines == result.accounts == expected,
                            f"run {i + 1}: {lines:,} CSV lines = {result.accounts:,} reported "
                            f"= {expected:,} accounts in the input"))
    print(json.dumps({"cold": times[0], "warm": times[1:], "cpu": cpu[1:],
                      "accounts": result.accounts, "checks": checks}))


def _cpu() -> float:
    """CPU seconds of this process (Sail runs inside it) and of its children (the JVM)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def cpu_text(engine: str, result: dict) -> str:
    """Sail's CPU time shows how much of the wall time was waiting on a busy machine."""
    return f"; cpu (warm) {spread(result['cpu'])}" if engine == "sail" else ""


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
    args.scale = scale_of(args)
    rows, accounts = sizes(args.scale)
    data = Path(tempfile.mkdtemp(prefix="bench-invoices-"))
    try:
        child("generate", args, data)
        print(
            f"data: {rows:,} invoices (CSV), {accounts:,} accounts; cores: {os.cpu_count()}; "
            f"load average: {os.getloadavg()[0]:.1f}; cold = first run in its process, "
            f"warm = median (min-max) of {args.repeat} runs after it"
        )
        results = {e: child(e, args, data) for e in args.engines.split(",")}
    finally:
        shutil.rmtree(data, ignore_errors=True)
    for engine, r in results.items():
        print(f"{engine:8} {cold_warm(r)}{cpu_text(engine, r)}; "
              f"{rows / warm_median(r):,.0f} rows/s warm; {r['accounts']:,} accounts")
        print_checks(engine, r["checks"])
    print_ratio_and_target(results, TARGET_S, f"{rows:,} rows")


if __name__ == "__main__":
    main()
