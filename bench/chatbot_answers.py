"""Benchmark: `chatbot answers` end to end on both engines, same data.

5,000,000 events of 500,000 sessions over 24 hourly files (even hours JSON arrays, odd
hours JSON lines), five flows: the full job (parse, reject, consolidate, long table,
one Delta table and one CSV file per flow) is timed. Target on sail: under 60 s.

    .venv/bin/python bench/chatbot_answers.py               # 5M events, 500k sessions
    .venv/bin/python bench/chatbot_answers.py --scale 0.05  # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from esteira.chatbot.job import run
from esteira.datagen.chatbot import generate_events, write_hours
from esteira.engine import get_session
from esteira.settings import load_settings

DAY = "2019-12-16"


def bench_engine(engine: str, args: argparse.Namespace, lake: Path) -> tuple[float, int, int]:
    settings = load_settings(engine=engine, shuffle_partitions=args.partitions)
    session = get_session(settings)
    times, sessions, answers = [], 0, 0
    for i in range(args.repeat):
        out = lake.parent / f"out-{engine}-{i}"
        start = time.perf_counter()
        result = run(settings, session, input=lake, out=out)
        times.append(time.perf_counter() - start)
        sessions = sum(f.sessions for f in result.flows)
        answers = result.answers
    return statistics.median(times), sessions, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--engines", default="sail,spark")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--layout", default="mixed", help="lines, array or mixed")
    args = parser.parse_args()
    events, sessions = int(5_000_000 * args.scale), max(1, int(500_000 * args.scale))
    data = Path(tempfile.mkdtemp(prefix="bench-chatbot-"))
    lake = data / "lake"
    try:
        gen = get_session(load_settings(engine="sail"))
        df = generate_events(gen, events, sessions, seed=7, day=DAY).select("hour", "line")
        write_hours(df, lake / DAY, args.layout)
        size = sum(p.stat().st_size for p in lake.rglob("*.json")) / 1e6
        print(
            f"data: {events:,} events, {sessions:,} sessions, 24 hourly files ({args.layout}, "
            f"{size:,.0f} MB); cores: {os.cpu_count()}; repeat: {args.repeat} (medians)"
        )
        results = {e: bench_engine(e, args, lake) for e in args.engines.split(",")}
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"{'engine':8} {'job s':>9} {'sessions':>10} {'answers':>10}")
    for engine, (seconds, n, a) in results.items():
        print(f"{engine:8} {seconds:9.2f} {n:>10,} {a:>10,}")
    if "sail" in results and "spark" in results:
        print(f"spark/sail = {results['spark'][0] / results['sail'][0]:.1f}x")


if __name__ == "__main__":
    main()
