"""Benchmark: `chatbot answers` end to end on both engines, same data.

5,000,000 events of 500,000 sessions over 24 hourly files (even hours JSON arrays, odd
hours JSON lines), five flows. The full job is timed: parse, reject, consolidate, the
long Delta table, one Delta table and one CSV file per flow. Each engine runs in a
child process of its own (engine start-up is not timed). Target on sail: under 60 s.

    .venv/bin/python bench/chatbot_answers.py               # 5M events, 500k sessions
    .venv/bin/python bench/chatbot_answers.py --scale 0.05  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import engine_parser, print_ratio_and_target, run_worker

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
        print(json.dumps({"mb": sum(p.stat().st_size for p in lake.rglob("*.json")) / 1e6}))
        return
    from esteira.chatbot.job import AnswersRequest, run

    settings = load_settings(engine=args.worker, shuffle_partitions=args.partitions)
    session = get_session(settings)
    times, cpu, sessions, answers = [], [], 0, 0
    for i in range(args.repeat):
        start, used = time.perf_counter(), _cpu()
        request = AnswersRequest(lake, args.data / f"out-{args.worker}-{i}")
        result = run(settings, session, request)
        times.append(time.perf_counter() - start)
        cpu.append(_cpu() - used)
        sessions, answers = sum(f.sessions for f in result.flows), result.answers
    report = {"seconds": statistics.median(times), "cpu": statistics.median(cpu)}
    print(json.dumps({**report, "sessions": sessions, "answers": answers}))


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
    events, sessions = sizes(args.scale)
    data = Path(tempfile.mkdtemp(prefix="bench-chatbot-"))
    try:
        made = child("generate", args, data)
        print(
            f"data: {events:,} events, {sessions:,} sessions, 24 hourly files ({args.layout}, "
            f"{made['mb']:,.0f} MB); cores: {os.cpu_count()}; "
            f"load average: {os.getloadavg()[0]:.1f}; repeat: {args.repeat} (medians)"
        )
        results = {e: child(e, args, data) for e in args.engines.split(",")}
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(
        f"{'engine':8} {'wall s':>8} {'cpu s':>8} {'events/s':>12} {'sessions':>10} {'answers':>10}"
    )
    for engine, r in results.items():
        cpu = f"{r['cpu']:8.1f}" if engine == "sail" else f"{'-':>8}"
        print(
            f"{engine:8} {r['seconds']:8.1f} {cpu} {events / r['seconds']:12,.0f} "
            f"{r['sessions']:>10,} {r['answers']:>10,}"
        )
    print_ratio_and_target(results, TARGET_S, f"{events:,} events")


if __name__ == "__main__":
    main()
