"""Benchmark: the seed's distribution vs esteira's, on both engines, same data.

The seed joins every client to every manager of its key and keeps row_number() == 1
over rand(). esteira plans loads on managers and equi-joins clients to slots.
The seed writes to Spark's `noop` sink (only its computation is timed); ours is timed
with every output materialized as Parquet, and the full job (validation and Delta
writes included) is timed too. The seed runs in a child process of its own, killed
after --seed-timeout seconds (at full size it needs a 234M-row join and, on Sail, more
memory than this machine has): then the ratio is printed as "> timeout / ours".

    .venv/bin/python bench/portfolio_assign.py                 # 2,000,000 x 10,000 x 200
    .venv/bin/python bench/portfolio_assign.py --scale 0.05    # a quick look
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
from pathlib import Path

from common import WorkerStopped, engine_parser, run_worker
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from esteira.connectors.staging import StagingArea
from esteira.datagen.portfolio import generate_clients, generate_managers
from esteira.engine import get_session
from esteira.portfolio import transforms as t
from esteira.portfolio.config import PortfolioSettings
from esteira.portfolio.job import AssignRequest, compute, run
from esteira.settings import load_settings

LIMIT = PortfolioSettings().limit_clients  # the default of esteira.portfolio.config


def seed_algorithm(clients: DataFrame, managers: DataFrame) -> DataFrame:
    """The seed's code, as published (null keys filtered, join, row_number over rand())."""
    clients = clients.filter(F.col("chave_unica").isNotNull())
    managers = managers.filter(F.col("chave_unica").isNotNull()).select("id_gerente", "chave_unica")
    window = Window.partitionBy("nr_cli").orderBy(F.rand())
    return (
        clients.join(managers, "chave_unica")
        .withColumn("row_number", F.row_number().over(window))
        .filter(F.col("row_number") == 1)
        .drop("row_number")
    )


def spread(assignment: DataFrame, managers: DataFrame) -> int:
    loads = t.manager_loads(
        assignment, t.manager_capacities(managers.dropna(subset=["chave_unica"]), LIMIT)
    )
    row = loads.agg(F.min("carga").alias("lo"), F.max("carga").alias("hi")).collect()[0]
    return int(row["hi"] - row["lo"])


def timed(fn, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def bench_ours(engine: str, args: argparse.Namespace, data: Path) -> dict[str, float]:
    settings = load_settings(engine=engine, shuffle_partitions=args.partitions)
    session = get_session(settings)
    clients = session.read.parquet(str(data / "clients"))
    managers = session.read.parquet(str(data / "managers"))
    result: dict[str, float] = {}

    with StagingArea(session, data / f"stage-{engine}") as stage:
        # every output of ours is materialized (Parquet), not only one
        result["ours"], _ = timed(
            lambda: compute(clients, managers, None, 42, LIMIT, stage), args.repeat
        )
    out = data / f"out-{engine}"
    request = AssignRequest.parse(
        settings.portfolio, str(data / "clients"), str(data / "managers"), out, limit=LIMIT
    )
    result["ours_job"], _ = timed(lambda: run(settings, session, request), args.repeat)
    result["ours_spread"] = spread(
        session.read.format("delta").load(str(out / "assignment")), managers
    )
    return result


def bench_seed(engine: str, args: argparse.Namespace, data: Path) -> dict[str, float]:
    session = get_session(load_settings(engine=engine, shuffle_partitions=args.partitions))
    clients = session.read.parquet(str(data / "clients"))
    managers = session.read.parquet(str(data / "managers"))
    seed = seed_algorithm(clients, managers)
    result: dict[str, float] = {}
    result["seed"], _ = timed(lambda: seed.write.format("noop").mode("overwrite").save(), 1)
    seed_out = data / f"seed-{engine}"
    seed.write.mode("overwrite").parquet(str(seed_out))
    result["seed_spread"] = spread(session.read.parquet(str(seed_out)), managers)
    return result


def main() -> None:
    parser = engine_parser(__doc__)
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--seed-timeout", type=float, default=900.0)
    parser.add_argument("--seed-max-gb", type=float, default=12.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # which:engine:data-dir
    args = parser.parse_args()
    if args.child:
        which, engine, data = args.child.split(":", 2)
        bench = bench_seed if which == "seed" else bench_ours
        print(json.dumps(bench(engine, args, Path(data))), flush=True)
        return
    n_clients, n_managers, keys = int(2_000_000 * args.scale), int(10_000 * args.scale), 200
    data = Path(tempfile.mkdtemp(prefix="bench-portfolio-"))
    try:
        gen = get_session(load_settings(engine="sail"))
        generate_clients(gen, n_clients, keys, 7).write.parquet(str(data / "clients"))
        generate_managers(gen, n_managers, keys, 7).write.parquet(str(data / "managers"))
        print(
            f"data: {n_clients:,} clients, {n_managers:,} managers, {keys} keys; "
            f"cores: {os.cpu_count()}; repeat: {args.repeat} (medians)",
            flush=True,
        )
        results = {}
        for engine in args.engines.split(","):
            results[engine] = _run_child("ours", engine, data, sys.argv[1:])
            if not args.skip_seed:
                results[engine].update(_run_seed(engine, data, args))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    _print(results)


def _run_child(
    which: str,
    engine: str,
    data: Path,
    argv: list[str],
    timeout: float | None = None,
    max_rss_gb: float | None = None,
) -> dict[str, float]:
    """pyspark holds Connect sessions or one JVM per process: each run gets its own."""
    command = [sys.executable, __file__, *argv, "--child", f"{which}:{engine}:{data}"]
    return run_worker(command, f"{which} on {engine}", timeout, max_rss_gb)


def _run_seed(engine: str, data: Path, args: argparse.Namespace) -> dict:
    """The seed's figures, or how long it ran before a limit stopped it."""
    start = time.perf_counter()
    try:
        return _run_child("seed", engine, data, sys.argv[1:], args.seed_timeout, args.seed_max_gb)
    except WorkerStopped as stopped:
        print(f"seed on {engine}: stopped, {stopped}", flush=True)
        return {"seed_stopped_after": time.perf_counter() - start, "seed_stopped": str(stopped)}


def _print(results: dict[str, dict[str, float]]) -> None:
    print(
        f"{'engine':8} {'seed s':>9} {'ours s':>9} {'job s':>9} {'seed/ours':>10} "
        f"{'spread seed':>12} {'spread ours':>12}"
    )
    for engine, r in results.items():
        seed_s, ratio, seed_txt = r.get("seed"), "-", "-"
        if seed_s:
            ratio, seed_txt = f"{seed_s / r['ours']:.1f}x", f"{seed_s:.2f}"
        elif "seed_stopped_after" in r:  # killed at a limit: it needed at least this long
            stopped = r["seed_stopped_after"]
            ratio, seed_txt = f"> {stopped / r['ours']:.1f}x", f"> {stopped:.0f}"
        print(
            f"{engine:8} {seed_txt:>9} {r['ours']:9.2f} {r['ours_job']:9.2f} "
            f"{ratio:>10} {r.get('seed_spread', '-')!s:>12} {r['ours_spread']!s:>12}"
        )
    if "sail" in results and "spark" in results:
        sail, spark = results["sail"], results["spark"]
        print(
            f"ours: spark/sail = {spark['ours'] / sail['ours']:.1f}x "
            f"(job: {spark['ours_job'] / sail['ours_job']:.1f}x)"
        )


if __name__ == "__main__":
    main()
