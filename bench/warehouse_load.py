"""Benchmark: the SiCooperative warehouse, full first load then an incremental run.

Full size (--full): 100,000 associados and 5,000,000 movements generated in the local
PostgreSQL; `esteira warehouse run` (raw, trusted, dims, facts, extract) into an empty
warehouse (target postgres) is the full load; then `datagen warehouse --mutate` (1%
new movements, 1% changed associados, corrections) and the incremental run. Each engine
runs in a child process of its own (engine start-up not timed); each repetition
regenerates the source and empties the warehouse (not timed). The first repetition in a
process is cold, the others warm (median, min-max).
Targets: full load under 180 s on sail; incremental under a tenth of the full load;
sail at least 3x faster than the JVM engine on the full load.
Checked on every run, against counts taken from the source with SQL (not from the job):
facts = source movements with a value, current dim_associado rows = associados with a
birth date, flat file lines = facts.

    .venv/bin/python bench/warehouse_load.py           # quick: 5,000 associados, 250,000 movements
    .venv/bin/python bench/warehouse_load.py --full    # 100,000 and 5,000,000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import (
    check,
    cold_warm,
    cpu_ticks,
    engine_parser,
    print_checks,
    run_worker,
    scale_of,
    steal_share,
)

from esteira import endpoints
from esteira.connectors import postgres as pg
from esteira.engine import get_session
from esteira.settings import load_settings

FULL_TARGET_S, INCREMENTAL_SHARE, SPEEDUP = 180, 0.1, 3.0


def sizes(scale: float) -> tuple[int, int]:
    return max(10, int(100_000 * scale)), max(100, int(5_000_000 * scale))


def worker(args: argparse.Namespace) -> None:
    from esteira.datagen.warehouse import generate, mutate
    from esteira.warehouse import job

    source, dw = f"bench_wh_src_{args.worker}", f"bench_wh_dw_{args.worker}"
    flat = Path(tempfile.mkdtemp(prefix="bench-wh-")) / "movimento_flat.csv"
    settings = load_settings(
        engine=args.worker, shuffle_partitions=args.partitions,
        warehouse={"source_database": "esteira", "source_schema": source, "database": "esteira",
                   "dw_schema": dw, "flat_file": str(flat)})
    dsn = endpoints.postgres_dsn(settings)
    session = get_session(settings)
    associados, movimentos = sizes(args.scale)
    full, incremental, checks, loads, stolen = [], [], [], [], []
    for i in range(1 + args.repeat):
        _sql(dsn, f"DROP SCHEMA IF EXISTS {dw} CASCADE")
        generate(dsn, source, associados, movimentos, seed=7 + i)
        start, ticks = time.perf_counter(), cpu_ticks()
        job.run(settings, session, job.WarehouseRequest.parse(settings.warehouse))
        full.append(time.perf_counter() - start)
        stolen.append(round(100 * steal_share(ticks, cpu_ticks())))
        checks.append(_check(dsn, source, dw, flat, f"run {i + 1} full"))
        mutate(dsn, source, seed=i + 1)
        start, ticks = time.perf_counter(), cpu_ticks()
        job.run(settings, session, job.WarehouseRequest.parse(settings.warehouse))
        incremental.append(time.perf_counter() - start)
        stolen.append(round(100 * steal_share(ticks, cpu_ticks())))
        loads.append(round(os.getloadavg()[0], 1))
        checks.append(_check(dsn, source, dw, flat, f"run {i + 1} incremental"))
    _sql(dsn, f"DROP SCHEMA IF EXISTS {dw} CASCADE")
    _sql(dsn, f"DROP SCHEMA IF EXISTS {source} CASCADE")
    print(json.dumps({"full": {"cold": full[0], "warm": full[1:]},
                      "incremental": {"cold": incremental[0], "warm": incremental[1:]},
                      "checks": checks, "load": loads, "steal": stolen}))


def _sql(dsn: str, statement: str) -> list[tuple]:
    with pg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def _check(dsn: str, source: str, dw: str, flat: Path, label: str) -> str:
    """The warehouse against the source's own counts."""
    movements = _sql(dsn, f"SELECT count(*) FROM {source}.movimento "
                          "WHERE vlr_transacao IS NOT NULL")[0][0]
    associados = _sql(dsn, f"SELECT count(DISTINCT id) FROM {source}.associado "
                           "WHERE data_nascimento IS NOT NULL")[0][0]
    facts = _sql(dsn, f"SELECT count(*) FROM {dw}.fato_movimentacao_cartao")[0][0]
    current = _sql(dsn, f"SELECT count(*) FROM {dw}.dim_associado "
                        "WHERE atual AND sk_associado <> -1")[0][0]
    with flat.open("rb") as fh:
        lines = sum(1 for _ in fh) - 1
    return check(facts == movements == lines and current == associados,
                 f"{label}: {facts:,} facts = {lines:,} flat lines = {movements:,} source "
                 f"movements with a value; {current:,} current versions = {associados:,} "
                 "associados with a birth date")


def main() -> None:
    parser = engine_parser(__doc__)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.scale = scale_of(args)
        worker(args)
        return
    args.scale = scale_of(args)
    associados, movimentos = sizes(args.scale)
    print(f"data: {associados:,} associados, {movimentos:,} movements (+1% after --mutate); "
          f"target postgres; cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}; "
          f"cold = first run in its process, warm = median (min-max) of {args.repeat} after it")
    results = {}
    for engine in args.engines.split(","):
        command = [sys.executable, __file__, "--worker", engine, "--repeat", str(args.repeat),
                   "--partitions", str(args.partitions), "--scale", str(args.scale)]
        results[engine] = run_worker(command, engine)
    for engine, r in results.items():
        share = _median(r["incremental"]) / _median(r["full"])
        print(f"{engine:6} full load   {cold_warm(r['full'])}")
        print(f"{engine:6} incremental {cold_warm(r['incremental'])}  "
              f"({share:.0%} of the full load; target under {INCREMENTAL_SHARE:.0%}: "
              f"{'met' if share < INCREMENTAL_SHARE else 'missed'})")
        print(f"{engine:6} load average (1 min) after each repetition: "
              f"{', '.join(str(x) for x in r.get('load', []))}; CPU stolen by the host "
              f"during each full, incremental run: "
              f"{', '.join(f'{x}%' for x in r.get('steal', []))}")
        print_checks(engine, r["checks"])
    if "sail" in results:
        full = _median(results["sail"]["full"])
        verdict = "met" if full < FULL_TARGET_S else "missed"
        print(f"sail full load under {FULL_TARGET_S} s: {verdict} at {movimentos:,} movements")
    if "sail" in results and "spark" in results:
        ratio = _median(results["spark"]["full"]) / _median(results["sail"]["full"])
        print(f"spark/sail full load: {ratio:.2f}x (target at least {SPEEDUP:g}x: "
              f"{'met' if ratio >= SPEEDUP else 'missed'})")


def _median(timing: dict) -> float:
    return statistics.median(timing["warm"]) if timing["warm"] else timing["cold"]


if __name__ == "__main__":
    main()
