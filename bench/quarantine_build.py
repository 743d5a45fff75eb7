"""Benchmark: `esteira quarantine build` over the six sources, on both engines.

10,000,000 source rows by default (CRM's xlsx at most 500,000 of them), generated once by
`esteira datagen quarantine`'s generator and read by each engine in turn. The timed part
is the whole job: fetching/converting the xlsx, reading the five other formats, the
quality rules, the quarantine rules and both Delta writes. Target on sail: under 90 s.
pyspark holds one engine per process, so data generation and each engine run in a
child process of their own (engine start-up is not timed).

    .venv/bin/python bench/quarantine_build.py                  # 10,000,000 rows
    .venv/bin/python bench/quarantine_build.py --rows 500000    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import engine_parser, print_ratio_and_target, run_worker

from esteira.datagen.quarantine import generate
from esteira.engine import get_session
from esteira.quarantine import job
from esteira.settings import Settings, load_settings

LOAD = date(2024, 5, 28)


def engine_settings(engine: str, data: Path, partitions: int) -> Settings:
    settings = load_settings(engine=engine, shuffle_partitions=partitions)
    out = data / f"out-{engine}"
    quarantine = settings.quarantine.model_copy(
        update={
            "sources_dir": data / "sources",
            "table": out / "quarentena_global",
            "rejects": out / "quarentena_rejeitados",
            "staging": out / "staging",
            "downloads": out / "downloads",
        }
    )
    return settings.model_copy(update={"quarantine": quarantine})


def bench_engine(engine: str, data: Path, args: argparse.Namespace) -> dict[str, float]:
    settings = engine_settings(engine, data, args.partitions)
    session = get_session(settings)
    times, result = [], None
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = job.run(settings, session, job.BuildRequest(LOAD))
        times.append(time.perf_counter() - start)
    assert result is not None
    return {
        "seconds": statistics.median(times),
        "read": sum(c.lidos for c in result.channels),
        "quarantined": result.total,
    }


def worker(args: argparse.Namespace) -> None:
    """Runs in a child process: generates the sources, or times one engine."""
    if args.worker == "generate":
        start = time.perf_counter()
        counts = generate(
            get_session(load_settings(engine="sail")), args.data / "sources", args.rows, LOAD
        )
        print(json.dumps({"seconds": time.perf_counter() - start, "counts": counts}))
    else:
        print(json.dumps(bench_engine(args.worker, args.data, args)))


def child(step: str, args: argparse.Namespace, data: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        step,
        "--data",
        str(data),
        "--rows",
        str(args.rows),
        "--repeat",
        str(args.repeat),
        "--partitions",
        str(args.partitions),
    ]
    return run_worker(command, step)


def main() -> None:
    parser = engine_parser(__doc__, scale=False)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--data", type=Path, help="reuse/keep generated sources here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    data = args.data or Path(tempfile.mkdtemp(prefix="bench-quarantine-"))
    try:
        marker = data / "sources" / f".rows-{args.rows}"
        if not marker.exists():
            made = child("generate", args, data)
            marker.touch()
            print(f"generated in {made['seconds']:.0f} s: {made['counts']}")
        print(f"rows: {args.rows:,}; cores: {os.cpu_count()}; repeat: {args.repeat} (medians)")
        results = {e: child(e, args, data) for e in args.engines.split(",")}
    finally:
        if args.data is None:
            shutil.rmtree(data, ignore_errors=True)
    print(f"{'engine':8} {'wall s':>8} {'rows/s':>12} {'read':>12} {'in quarantine':>14}")
    for engine, r in results.items():
        print(
            f"{engine:8} {r['seconds']:8.1f} {args.rows / r['seconds']:12,.0f} "
            f"{r['read']:12,} {r['quarantined']:14,}"
        )
    print_ratio_and_target(results, 90, f"{args.rows:,} rows")


if __name__ == "__main__":
    main()
