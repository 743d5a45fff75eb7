"""Benchmark: how long the local services take to start and stop, and a Kafka round trip.

Runs in a private home under /tmp on free ports (the repo's services are not touched):
first `up` (Kafka storage format / PostgreSQL initdb included), a restart with data,
a no-op `up`, `down`; medians over --runs. Then produces and consumes --messages small
messages through the local broker (confluent-kafka) and prints messages per second.

    .venv/bin/python bench/services_startup.py                  # 3 runs, 50,000 messages
    .venv/bin/python bench/services_startup.py --runs 1 --messages 5000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from esteira.connectors import kafka as kafka_io
from esteira.formats import number_br
from esteira.services import kafka, postgres
from esteira.services.local import free_port
from esteira.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=50_000)
    args = parser.parse_args()

    figures: dict[str, dict[str, list[float]]] = {"kafka": {}, "postgres": {}}
    for _ in range(args.runs):
        home = Path(tempfile.mkdtemp(prefix="esteira-bench-"))
        home.chmod(0o755)  # the unprivileged PostgreSQL account must reach it
        (home / "jars").mkdir()
        (home / "jars" / "kafka").symlink_to(REPO / ".esteira" / "jars" / "kafka")
        settings = load_settings(
            home=home, kafka={"port": free_port()}, postgres={"port": free_port()}
        )
        try:
            for name, module in (("kafka", kafka), ("postgres", postgres)):
                found = figures[name]
                found.setdefault("first up", []).append(timed(lambda m=module, s=settings: m.up(s)))
                found.setdefault("no-op up", []).append(timed(lambda m=module, s=settings: m.up(s)))
                found.setdefault("down", []).append(timed(lambda m=module, s=settings: m.down(s)))
                found.setdefault("up with data", []).append(
                    timed(lambda m=module, s=settings: m.up(s))
                )
            rate = round_trip(kafka.bootstrap_servers(settings), args.messages)
            figures["kafka"].setdefault("messages/s (produce+consume)", []).append(rate)
        finally:
            kafka.down(settings)
            postgres.down(settings)
            shutil.rmtree(home, ignore_errors=True)

    for name, rows in figures.items():
        print(f"{name}  (median of {args.runs})")
        for label, values in rows.items():
            value = statistics.median(values)
            shown = (
                number_br(value, 0) if label.startswith("messages") else f"{number_br(value, 2)} s"
            )
            print(f"  {label:<30} {shown}")


def round_trip(bootstrap: str, count: int) -> float:
    kafka_io.create_topic(bootstrap, "bench", partitions=4)
    payload = b"x" * 200
    start = time.perf_counter()
    kafka_io.produce(bootstrap, "bench", ((str(i).encode(), payload) for i in range(count)))
    got = kafka_io.consume(bootstrap, "bench", count, timeout=120)
    elapsed = time.perf_counter() - start
    assert len(got) == count, f"consumed {len(got)} of {count}"
    return count / elapsed


if __name__ == "__main__":
    main()
