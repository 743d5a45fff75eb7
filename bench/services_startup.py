"""Benchmark: how long the local services take to start and stop, and a Kafka round trip.

Runs in a private home under /tmp on free ports (the repo's services are not touched):
first `up` (cold: Kafka storage format / PostgreSQL initdb included, nothing on disk), a
no-op `up`, `down`, and `up` again with its data (warm: formatted, files in the page
cache); each figure is the median (min-max) of --repeat private homes. Then produces
and consumes --messages small messages through the broker (confluent-kafka): messages
per second, checked (every message consumed, each once, with the value sent). Each
`up` and `down` is checked by the service's own status (running / stopped).

    .venv/bin/python bench/services_startup.py           # quick: 3 homes, 5,000 messages
    .venv/bin/python bench/services_startup.py --full    # 3 homes, 50,000 messages
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from common import base_parser, check, print_checks, spread

from esteira.connectors import kafka as kafka_io
from esteira.connectors import kafka_topics
from esteira.services import kafka, postgres
from esteira.services.local import free_port
from esteira.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--runs", type=int, dest="repeat", help="the same as --repeat")
    parser.add_argument("--messages", type=int, default=None, help="default 5,000; --full 50,000")
    args = parser.parse_args()
    args.messages = args.messages or (50_000 if args.full else 5_000)

    figures: dict[str, dict[str, list[float]]] = {"kafka": {}, "postgres": {}}
    checks: list[str] = []
    for _ in range(args.repeat):
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
                for label, action, running in (("first up (cold)", module.up, True),
                                               ("no-op up", module.up, True),
                                               ("down", module.down, False),
                                               ("up with data (warm)", module.up, True)):
                    found.setdefault(label, []).append(timed(lambda a=action, s=settings: a(s)))
                    state = module.status(settings).running
                    checks.append(check(state is running, f"{name} {label}: running={state}"))
            rate = round_trip(kafka.bootstrap_servers(settings), args.messages)
            checks.append(f"{args.messages:,} messages consumed once each, values as sent")
            figures["kafka"].setdefault("messages/s (produce+consume)", []).append(rate)
        finally:
            kafka.down(settings)
            postgres.down(settings)
            shutil.rmtree(home, ignore_errors=True)

    print(f"median (min-max) over {args.repeat} private homes; load average "
          f"{os.getloadavg()[0]:.1f}")
    for name, rows in figures.items():
        print(name)
        for label, values in rows.items():
            shown = (spread(values, "msg/s", 0) if label.startswith("messages")
                     else spread(values))
            print(f"  {label:<30} {shown}")
    print_checks("services", sorted(set(checks)))


def round_trip(bootstrap: str, count: int) -> float:
    kafka_topics.create_topic(bootstrap, "bench", partitions=4)
    payload = b"x" * 200
    start = time.perf_counter()
    kafka_io.produce(bootstrap, "bench", ((str(i).encode(), payload) for i in range(count)))
    got = kafka_io.consume(bootstrap, "bench", count, timeout=120)
    elapsed = time.perf_counter() - start
    check(len(got) == count, f"consumed {len(got)} of {count}")
    check(sorted(int(r.key) for r in got) == list(range(count)), "each message once")
    check(all(r.value == payload for r in got), "values as sent")
    return count / elapsed


if __name__ == "__main__":
    main()
