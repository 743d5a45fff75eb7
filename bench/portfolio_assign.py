"""Benchmark: the seed's distribution vs esteira's, on both engines, same data.

The seed joins every client to every manager of its key and keeps row_number() == 1
over rand(). esteira plans loads on managers and equi-joins clients to slots.
The seed writes to Spark's `noop` sink (only its computation is timed); ours is timed
with every output materialized as Parquet, and the full job (validation and Delta
writes included) is timed too. The seed runs in a child process of its own, killed
after --seed-timeout seconds (at full size it needs a 234M-row join and, on Sail, more
memory than this machine has): then the ratio is printed as "> timeout / ours".
The shuffle floor: one read + shuffle by nr_cli of the clients to the noop sink, the
least any correct algorithm pays (README). Each figure: the cold run (first in its
process) and the median (min-max) of --repeat warm runs after it. Each job run is
checked: every valid client exactly once across assignment, unassigned and rejects
(counted from the input files directly), no client twice in the assignment.

    .venv/bin/python bench/portfolio_assign.py          # quick: 100,000 x 500 x 200
    .venv/bin/python bench/portfolio_assign.py --full   # 2,000,000 x 10,000 x 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import (
    WorkerStopped,
    check,
    cold_warm,
    engine_parser,
    print_checks,
    run_worker,
    scale_of,
    timed_runs,
    warm_median,
)
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


def bench_ours(engine: str, args: argparse.Namespace, data: Path) -> dict:
    settings = load_settings(engine=engine, shuffle_partitions=args.partitions)
    session = get_session(settings)
    clients = session.read.parquet(str(data / "clients"))
    managers = session.read.parquet(str(data / "managers"))
    result: dict = {}
    # the floor: one shuffle of the clients by nr_cli (read, shuffle, noop)
    result["floor"], _ = timed_runs(
        lambda: clients.repartition(args.partitions, "nr_cli").write.format("noop")
        .mode("overwrite").save(), args.repeat)
    with StagingArea(session, data / f"stage-{engine}") as stage:
        # every output of ours is materialized (Parquet), not only one
        result["ours"], _ = timed_runs(
            lambda: compute(clients, managers, None, 42, LIMIT, stage), args.repeat
        )
    out = data / f"out-{engine}"
    request = AssignRequest.parse(
        settings.portfolio, str(data / "clients"), str(data / "managers"), out, limit=LIMIT
    )
    result["ours_job"], _ = timed_runs(lambda: run(settings, session, request), args.repeat)
    result["checks"] = check_job(session, clients, out)
    result["ours_spread"] = spread(
        session.read.format("delta").load(str(out / "assignment")), managers
    )
    return result


def check_job(session, clients: DataFrame, out: Path) -> list[str]:
    """The job's tables against the input read directly: every client with a key once."""
    valid = clients.filter(F.col("chave_unica").isNotNull()).select("nr_cli").distinct().count()
    tables = {name: session.read.format("delta").load(str(out / name))
              for name in ("assignment", "unassigned", "rejects")}
    assigned = tables["assignment"].count()
    ids = {name: tables[name].select("nr_cli").distinct().count()
           for name in ("assignment", "unassigned")}
    # rejected clients that had a key: an nr_cli with two keys or two versions of its row
    ids["rejects"] = tables["rejects"].filter(
        (F.col("tipo") == "cliente") & F.col("chave_unica").isNotNull()
    ).select("id").distinct().count()
    return [
        check(assigned == ids["assignment"], f"{assigned:,} assigned, each client once"),
        check(sum(ids.values()) == valid,
              f"assigned + unassigned + rejected = {sum(ids.values()):,} = clients with a key "
              f"in the input ({valid:,})"),
    ]


def bench_seed(engine: str, args: argparse.Namespace, data: Path) -> dict[str, float]:
    session = get_session(load_settings(engine=engine, shuffle_partitions=args.partitions))
    clients = session.read.parquet(str(data / "clients"))
    managers = session.read.parquet(str(data / "managers"))
    seed = seed_algorithm(clients, managers)
    result: dict[str, float] = {}
    result["seed"], _ = timed_runs(
        lambda: seed.write.format("noop").mode("overwrite").save(), 0)  # cold only: minutes
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
    scale = scale_of(args)
    n_clients, n_managers, keys = int(2_000_000 * scale), int(10_000 * scale), 200
    data = Path(tempfile.mkdtemp(prefix="bench-portfolio-"))
    try:
        gen = get_session(load_settings(engine="sail"))
        generate_clients(gen, n_clients, keys, 7).write.parquet(str(data / "clients"))
        generate_managers(gen, n_managers, keys, 7).write.parquet(str(data / "managers"))
        print(
            f"data: {n_clients:,} clients, {n_managers:,} managers, {keys} keys; "
            f"cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; each figure: "
            f"cold (first run in its process) | warm median (min-max) of {args.repeat}",
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


def _print(results: dict[str, dict]) -> None:
    for engine, r in results.items():
        print(f"{engine}:")
        print(f"  shuffle floor (clients by nr_cli, noop): {cold_warm(r['floor'])}")
        print(f"  ours (every output as Parquet):          {cold_warm(r['ours'])}")
        print(f"  job (assign: checks + Delta writes):     {cold_warm(r['ours_job'])}")
        if r.get("seed"):
            seed_s = r["seed"]["cold"]
            print(f"  seed (noop, cold only):                  {seed_s:.2f} s; seed/ours "
                  f"{seed_s / warm_median(r['ours']):.1f}x (ours warm), "
                  f"{seed_s / r['ours']['cold']:.1f}x (ours cold)")
        elif "seed_stopped_after" in r:  # killed at a limit: it needed at least this long
            stopped = r["seed_stopped_after"]
            print(f"  seed: stopped after {stopped:.0f} s ({r['seed_stopped']}): seed/ours "
                  f"> {stopped / warm_median(r['ours']):.1f}x")
        print(f"  spread (max - min clients per manager): seed "
              f"{r.get('seed_spread', '-')}, ours {r['ours_spread']}")
        print_checks(engine, r["checks"])
    if "sail" in results and "spark" in results:
        sail, spark = results["sail"], results["spark"]
        print(
            f"ours: spark/sail = {warm_median(spark['ours']) / warm_median(sail['ours']):.1f}x "
            f"(job: {warm_median(spark['ours_job']) / warm_median(sail['ours_job']):.1f}x; "
            "warm medians)"
        )


if __name__ == "__main__":
    main()
