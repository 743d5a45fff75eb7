"""Benchmark: `esteira quarantine build` over the six sources, on both engines.

10,000,000 source rows by default (CRM's xlsx at most 500,000 of them), generated once by
`esteira datagen quarantine`'s generator and read by each engine in turn. The timed part
is the whole job: fetching/converting the xlsx, reading the five other formats, the
quality rules, the quarantine rules and both Delta writes. Target on sail: under 90 s.
pyspark holds one engine per process, so data generation and each engine run in a
child process of their own (engine start-up is not timed). Each engine: the cold run
(first in its process) and the median (min-max) of --repeat warm runs. Checked: the
rows read per run equal the generator's own count per source (CRM: the rows of the
load date's snapshot, counted in the workbook), and the table read back
holds as many rows as the job says it quarantined.

    .venv/bin/python bench/quarantine_build.py                  # quick: 500,000 rows
    .venv/bin/python bench/quarantine_build.py --full           # 10,000,000 rows
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import (
    check,
    cold_warm,
    engine_parser,
    print_checks,
    print_ratio_and_target,
    run_worker,
    timed_runs,
    warm_median,
)

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


def bench_engine(engine: str, data: Path, args: argparse.Namespace) -> dict:
    settings = engine_settings(engine, data, args.partitions)
    session = get_session(settings)
    timing, result = timed_runs(
        lambda: job.run(settings, session, job.BuildRequest(LOAD)), args.repeat)
    read = sum(c.lidos for c in result.channels)
    generated = sum(json.loads((data / "sources" / ".counts.json").read_text()).values())
    table = session.read.format("delta").load(str(settings.quarantine.table)).count()
    return {**timing, "read": read, "quarantined": result.total, "checks": [
        check(read == generated, f"rows read {read:,} = rows generated {generated:,}"),
        check(table == result.total,
              f"table rows read back {table:,} = quarantined {result.total:,}"),
    ]}


def crm_snapshot_rows(workbook: Path) -> int:
    """CRM rows of the load date's snapshot (data_base = D; the generator writes about
    10% of the day before, which the job does not read), counted in the workbook itself."""
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(workbook)).get_sheet_by_index(0).to_python()
    column = rows[0].index("data_base")
    return sum(1 for row in rows[1:] if _as_date(row[column]) == LOAD)


def _as_date(value) -> date | None:
    return value.date() if hasattr(value, "date") else value


def worker(args: argparse.Namespace) -> None:
    """Runs in a child process: generates the sources, or times one engine."""
    if args.worker == "generate":
        start = time.perf_counter()
        counts = generate(
            get_session(load_settings(engine="sail")), args.data / "sources", args.rows, LOAD
        )
        counts["crm"] = crm_snapshot_rows(args.data / "sources" / "crm" / "crm_data.xlsx")
        (args.data / "sources" / ".counts.json").write_text(json.dumps(counts))
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
    parser.add_argument("--rows", type=int, default=None, help="default 500,000; --full 10M")
    parser.add_argument("--data", type=Path, help="reuse/keep generated sources here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.rows = args.rows or (10_000_000 if args.full else 500_000)
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
        print(f"rows: {args.rows:,}; cores: {os.cpu_count()}; load average "
              f"{os.getloadavg()[0]:.1f}; cold = first run in its process, warm = median "
              f"(min-max) of {args.repeat} runs after it")
        results = {e: child(e, args, data) for e in args.engines.split(",")}
    finally:
        if args.data is None:
            shutil.rmtree(data, ignore_errors=True)
    for engine, r in results.items():
        print(f"{engine:8} {cold_warm(r)}; {args.rows / warm_median(r):,.0f} rows/s warm; "
              f"read {r['read']:,}, in quarantine {r['quarantined']:,}")
        print_checks(engine, r["checks"])
    print_ratio_and_target(results, 90, f"{args.rows:,} rows")


if __name__ == "__main__":
    main()
