"""Benchmark: `chatbot answers` end to end on both engines, same data.

5,000,000 events of 500,000 sessions over 24 hourly files (even hours JSON arrays, odd
hours JSON lines), five flows. The full job is timed: parse, reject, consolidate, the
long Delta table, one Delta table and one CSV file per flow. Each engine runs in a
child process of its own (engine start-up is not timed). Target on sail: under 60 s.
Each engine: the cold run (first in its process) and the median (min-max) of --repeat
warm runs. Checked on every run, against a tally taken from the generated events (not
from the job): events read, events rejected (no session), sessions across the flow
tables, and each flow's CSV file holding as many rows as its table.

    .venv/bin/python bench/chatbot_answers.py          # quick: 250,000 events, 25,000 sessions
    .venv/bin/python bench/chatbot_answers.py --full   # 5M events, 500k sessions
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
from pyspark.sql import functions as F

from esteira.engine import get_session
from esteira.settings import load_settings

DAY = "2019-12-16"
TARGET_S = 60


def sizes(scale: float) -> tuple[int, int]:
    return int(5_000_000 * scale), max(1, int(500_000 * scale))


def worker(args: argparse.Namespace) -> None:
    """In a child process: generates the lake, or times one engine."""
    lake = args.data / "lake"
    if args.worker == "generate":
        from esteira.datagen.chatbot import generate_events, write_hours

        events, sessions = sizes(args.scale)
        gen = get_session(load_settings(engine="sail"))
        df = generate_events(gen, events, sessions, seed=7, day=DAY).select("hour", "line")
        write_hours(df, lake / DAY, args.layout)
        session_of = F.get_json_object("line", "$.session")
        tally = df.agg(F.count(F.lit(1)).alias("events"),
                       F.count_distinct(session_of).alias("sessions"),
                       F.count_if(session_of.isNull()).alias("no_session")).first().asDict()
        (args.data / "tally.json").write_text(json.dumps(tally))
        print(json.dumps({"mb": sum(p.stat().st_size for p in lake.rglob("*.json")) / 1e6}))
        return
    from esteira.chatbot.job import AnswersRequest, run

    settings = load_settings(engine=args.worker, shuffle_partitions=args.partitions)
    session = get_session(settings)
    tally = json.loads((args.data / "tally.json").read_text())
    times, cpu, sessions, answers, checks = [], [], 0, 0, []
    for i in range(1 + args.repeat):  # the first is cold
        start, used = time.perf_counter(), _cpu()
        request = AnswersRequest(lake, args.data / f"out-{args.worker}-{i}")
        result = run(settings, session, request)
        times.append(time.perf_counter() - start)
        cpu.append(_cpu() - used)
        sessions, answers = sum(f.sessions for f in result.flows), result.answers
        checks += _check(session, result, tally, i + 1)
    print(json.dumps({"cold": times[0], "warm": times[1:], "cpu": cpu[1:],
                      "sessions": sessions, "answers": answers, "checks": checks}))


def _check(session, result, tally: dict, run_no: int) -> list[str]:
    """One run's outputs against the generator's tally and each other."""
    sessions = sum(f.sessions for f in result.flows)
    csv_rows = sum(sum(1 for _ in f.csv.open(encoding="utf-8")) - 1 for f in result.flows)
    table_rows = sum(session.read.format("delta").load(str(f.delta)).count()
                     for f in result.flows)
    return [
        check(result.events == tally["events"],
              f"run {run_no}: {result.events:,} events read = {tally['events']:,} generated"),
        check(result.rejected == tally["no_session"],
              f"{result.rejected:,} rejected = {tally['no_session']:,} generated without session"),
        check(sessions == tally["sessions"] == table_rows == csv_rows,
              f"{sessions:,} sessions reported = {tally['sessions']:,} generated = "
              f"{table_rows:,} flow table rows = {csv_rows:,} CSV rows"),
    ]


def _cpu() -> float:
    """CPU seconds of this process: all of Sail's work (it runs inside), none of the JVM's."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def child(step: str, args: argparse.Namespace, data: Path) -> dict:
    command = [sys.executable, __file__, "--worker", step, "--data", str(data)]
    command += ["--scale", str(args.scale), "--repeat", str(args.repeat)]
    command += ["--partitions", str(args.partitions), "--layout", args.layout]
    return run_worker(command, step)


def main() -> None:
    parser = engine_parser(__doc__)
    parser.add_argument("--layout", default="mixed", help="lines, array or mixed")
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    args.scale = scale_of(args)
    events, sessions = sizes(args.scale)
    data = Path(tempfile.mkdtemp(prefix="bench-chatbot-"))
    try:
        made = child("generate", args, data)
        print(
            f"data: {events:,} events, {sessions:,} sessions, 24 hourly files ({args.layout}, "
            f"{made['mb']:,.0f} MB); cores: {os.cpu_count()}; "
            f"load average: {os.getloadavg()[0]:.1f}; cold = first run in its process, "
            f"warm = median (min-max) of {args.repeat} runs after it"
        )
        results = {e: child(e, args, data) for e in args.engines.split(",")}
    finally:
        shutil.rmtree(data, ignore_errors=True)
    for engine, r in results.items():
        cpu = f"; cpu (warm) {spread(r['cpu'])}" if engine == "sail" else ""
        print(f"{engine:8} {cold_warm(r)}{cpu}; {events / warm_median(r):,.0f} events/s warm; "
              f"{r['sessions']:,} sessions, {r['answers']:,} answers")
        print_checks(engine, r["checks"])
    print_ratio_and_target(results, TARGET_S, f"{events:,} events")


if __name__ == "__main__":
    main()
