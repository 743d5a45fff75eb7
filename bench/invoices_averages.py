"""Benchmark: `invoices averages` end to end on both engines, same data.

10,000,000 invoice rows of 1,000,000 accounts (CSV, as the seed's invoices.csv), reference
2020-01, windows 3 and 6: the full job (read, check every row, average, write the CSV
file and read it back for the summary) is timed. Target on sail: under 30 s.

    .venv/bin/python bench/invoices_averages.py               # 10M rows, 1M accounts
    .venv/bin/python bench/invoices_averages.py --scale 0.05  # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from esteira.datagen.invoices import generate_invoices
from esteira.engine import get_session
from esteira.invoices.job import run
from esteira.settings import load_settings


def bench_engine(engine: str, args: argparse.Namespace, data: Path) -> tuple[float, int]:
    settings = load_settings(engine=engine, shuffle_partitions=args.partitions)
    session = get_session(settings)
    times, accounts = [], 0
    for i in range(args.repeat):
        out = data / f"out-{engine}-{i}.csv"
        start = time.perf_counter()
        result = run(settings, session, input=data / "invoices", out=out, fmt=args.format)
        times.append(time.perf_counter() - start)
        accounts = result.accounts
    return statistics.median(times), accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--engines", default="sail,spark")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--format", default="csv", help="output: csv, parquet or delta")
    parser.add_argument("--input-format", default="csv", help="csv or parquet")
    args = parser.parse_args()
    rows, accounts = int(10_000_000 * args.scale), max(1, int(1_000_000 * args.scale))
    data = Path(tempfile.mkdtemp(prefix="bench-invoices-"))
    try:
        gen = get_session(load_settings(engine="sail"))
        writer = generate_invoices(gen, rows, accounts, seed=7).write
        if args.input_format == "csv":
            writer.option("header", "true").csv(str(data / "invoices"))
        else:
            writer.parquet(str(data / "invoices"))
        print(
            f"data: {rows:,} invoices ({args.input_format}), {accounts:,} accounts; "
            f"cores: {os.cpu_count()}; repeat: {args.repeat} (medians); output {args.format}"
        )
        results = {e: bench_engine(e, args, data) for e in args.engines.split(",")}
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"{'engine':8} {'job s':>9} {'accounts':>10}")
    for engine, (seconds, n) in results.items():
        print(f"{engine:8} {seconds:9.2f} {n:>10,}")
    if "sail" in results and "spark" in results:
        print(f"spark/sail = {results['spark'][0] / results['sail'][0]:.1f}x")


if __name__ == "__main__":
    main()
