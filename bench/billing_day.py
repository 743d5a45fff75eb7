"""Benchmark: the daily bill (`notifications billing`) of one busy day, both engines.

A day of 10,000,000 distinct messages of 5,000 customers (Zipf-skewed sizes; the
largest is the seed's Acme), written straight into silver and gold as the stream
leaves them, plus 1% of messages in the first hour of the next local day (they must
not be billed). Timed: the whole job (count the local day in gold, reconcile every line
with silver's distinct message_ids, price, write the Delta bill and its txt/csv), as a
draft rerun each time (same work every run). Engine start-up is not timed. Target on
sail: under 60 s, exact. Checked on every run: each customer's billed count equals the
generator's tally (sizes computed in Python before any data exists), and the total.

    .venv/bin/python bench/billing_day.py               # quick: 1,000,000 messages
    .venv/bin/python bench/billing_day.py --full        # 10M messages, 5,000 customers
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
from datetime import UTC, date, datetime, timedelta
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

TARGET_S = 60
FULL = 10_000_000
CUSTOMERS = 5_000
DAY = date(2020, 2, 3)
TZ = "America/Sao_Paulo"
ACME = 7494212


def tally(total: int, customers: int = CUSTOMERS) -> dict[int, int]:
    """Messages per customer_id: Zipf weights (s = 0.8), largest remainders to `total`."""
    weights = [1 / (rank + 1) ** 0.8 for rank in range(customers)]
    scale = total / sum(weights)
    sizes = [int(w * scale) for w in weights]
    by_remainder = sorted(range(customers), key=lambda i: -(weights[i] * scale - sizes[i]))
    for i in by_remainder[: total - sum(sizes)]:
        sizes[i] += 1
    return {ACME if rank == 0 else 1_000 + rank: n for rank, n in enumerate(sizes)}


def generate(session, root: Path, sizes: dict[int, int]) -> None:
    """silver (one row per message) and gold (per minute) for the day, from `sizes`."""
    from pyspark.sql import functions as F

    from esteira.billing.render import day_bounds
    from esteira.datagen.draws import uniform

    start, end = day_bounds(DAY, TZ)
    customers = session.createDataFrame(
        [(cid, f"Cliente {cid}", n, n // 100) for cid, n in sizes.items()],
        "customer_id long, customer_name string, size long, extra long",
    )
    rows = customers.select(
        "customer_id",
        "customer_name",
        "size",
        F.explode(F.sequence(F.lit(0).cast("long"), F.col("size") + F.col("extra") - 1)).alias("k"),
    )
    rows = rows.withColumn("id", F.col("customer_id") * 100_000_000 + F.col("k"))
    in_day = F.col("k") < F.col("size")  # the rest: the next local day's first hour
    offset = F.when(in_day, uniform(11, row_id="id") * (end - start).total_seconds()).otherwise(
        (end - start).total_seconds() + uniform(12, row_id="id") * 3600
    )
    silver = rows.select(
        F.concat(F.col("customer_id").cast("string"), F.lit("-"), F.col("k").cast("string")).alias(
            "message_id"
        ),
        "customer_id",
        "customer_name",
        F.lit("Whatsapp").alias("channel"),
        F.lit("Olá XXXXX, seja muito bem-vindo! Precisa de alguma ajuda?").alias("payload"),
        F.timestamp_micros((F.lit(int(start.timestamp() * 1e6)) + offset * 1e6).cast("long")).alias(
            "event_datetime"
        ),
    ).withColumn("event_date", F.to_date("event_datetime"))
    silver.write.format("delta").partitionBy("event_date").save(str(root / "silver"))
    written = session.read.format("delta").load(str(root / "silver"))
    gold = written.groupBy(
        "customer_id",
        "customer_name",
        "channel",
        F.date_trunc("minute", "event_datetime").alias("minute"),
    ).agg(F.count(F.lit(1)).alias("notifications"))
    gold = gold.select(
        "*",
        F.to_date("minute").alias("event_date"),
        F.hour("minute").alias("event_hour"),
        F.lit(datetime(2020, 2, 5, tzinfo=UTC)).alias("updated_at"),
    )
    gold.write.format("delta").partitionBy("event_date", "event_hour").save(str(root / "gold"))


def worker(args: argparse.Namespace) -> None:
    total = int(FULL * args.scale)
    sizes = tally(total)
    if args.worker == "generate":
        generate(get_session(load_settings(engine="sail")), args.data / "n", sizes)
        print(json.dumps({}))
        return
    from esteira.billing.job import BillingRequest, run
    from esteira.billing.render import day_bounds

    settings = load_settings(
        engine=args.worker,
        shuffle_partitions=args.partitions,
        notifications={"root": str(args.data / "n")},
        billing={"root": str(args.data / f"b-{args.worker}")},
    )
    session = get_session(settings)
    as_of = (day_bounds(DAY, TZ)[1] + timedelta(hours=1)).isoformat()  # inside the grace
    times, cpu, checks = [], [], []
    for i in range(1 + args.repeat):
        request = BillingRequest.parse(DAY.isoformat(), TZ, as_of)
        begin, used = time.perf_counter(), _cpu()
        result = run(settings, session, request)
        times.append(time.perf_counter() - begin)
        cpu.append(_cpu() - used)
        billed = {r["customer_id"]: r["notifications"] for r in result.lines}
        checks = [
            check(
                billed == sizes,
                f"run {i + 1}: {len(billed):,} customers' counts = the generator's tally, each one",
            ),
            check(
                result.notifications == total,
                f"run {i + 1}: {result.notifications:,} "
                f"notifications billed = {total:,} generated in the day",
            ),
            check(
                result.amount_centavos == sum(n * 4 for n in sizes.values()),
                f"run {i + 1}: amount {result.amount_centavos / 100:,.2f} = 0.04 x each "
                "customer's count",
            ),
        ]
    print(
        json.dumps(
            {
                "cold": times[0],
                "warm": times[1:],
                "cpu": cpu[1:],
                "checks": checks,
                "status": result.status,
            }
        )
    )


def child(step: str, args: argparse.Namespace) -> dict:
    command = [
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
        "--partitions",
        str(args.partitions),
    ]
    return run_worker(command, step)


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
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    args.scale = scale_of(args)
    total = int(FULL * args.scale)
    args.data = Path(tempfile.mkdtemp(prefix="bench-billing-"))
    try:
        begin = time.perf_counter()
        child("generate", args)
        print(
            f"data: {total:,} messages in the day (+1% the next day), {CUSTOMERS:,} "
            f"customers, generated in {time.perf_counter() - begin:.0f} s; cores: "
            f"{os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}; cold = first run "
            f"in its process, warm = median (min-max) of {args.repeat} runs after it"
        )
        results = {e: child(e, args) for e in args.engines.split(",")}
    finally:
        shutil.rmtree(args.data, ignore_errors=True)
    for engine, r in results.items():
        print(
            f"{engine:8} {cold_warm(r)}; cpu (warm) {spread(r['cpu'])}; "
            f"{total / warm_median(r):,.0f} messages/s warm ({r['status']})"
        )
        print_checks(engine, r["checks"])
    print_ratio_and_target(results, TARGET_S, f"{total:,} messages")


if __name__ == "__main__":
    main()
