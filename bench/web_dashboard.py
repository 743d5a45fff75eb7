"""Dashboard latency: p50/p95 of the home page, a customer's page and the JSON API.

Per-minute gold for N customers over D days (full: 5,000 x 7, about 20M rows; quick:
500 x 2) and its rollup are written with delta-rs in the stream's layout (partitions
event_date, event_hour; a day at a time, so memory stays bounded) and kept under
.esteira/bench/web/ for the next run of the same size. The real `esteira serve` runs
as a child process; each endpoint is asked `--requests` times one at a time (alone) and
then with 20 requests in flight. The first request after the server starts is the cold
one (the rollup is read into memory then); `--repeat` warm rounds follow, and each figure
is the median of the rounds' p50/p95 with its spread. The web process's peak resident
memory (VmHWM) is printed last. Checks: every customer's count for the day on the home
API (all pages) against the generator's own tally, and one customer's per-minute series.

With `--freshness` (needs the local Kafka broker and the JVM engine) it first measures
freshness end to end at `--fresh-rate` msg/s (1,000): see bench/web_freshness.py.

    .venv/bin/python bench/web_dashboard.py [--full] [--repeat 3] [--requests 100] [--freshness]
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pyarrow as pa
from deltalake import write_deltalake

sys.path.insert(0, str(Path(__file__).parent))
from common import base_parser, check, print_checks, spread  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIRST_DAY = date(2020, 2, 1)
TZ_HOURS = 3  # America/Sao_Paulo is UTC-3 (no daylight saving since 2019)
TARGETS = {"alone": 0.150, "in flight": 0.500}
RSS_TARGET_MB = 600
IN_FLIGHT = 20


def generate(folder: Path, customers: int, days: int, seed: int = 7) -> dict[date, np.ndarray]:
    """Gold and rollup for `customers` x `days`; returns per UTC day each customer's
    count by local day (the tally the checks compare with)."""
    rng = np.random.default_rng(seed)
    # Zipf-like sizes: the largest customers count every minute, the smallest rarely
    rank = np.arange(1, customers + 1)
    p_active = np.clip(1.8 / rank ** 0.2, 0.05, 1.0)  # 40% of the minutes on average
    mean_per_minute = np.clip(400 / rank ** 0.8, 1, None)
    ids = np.arange(1, customers + 1, dtype=np.int64) * 1000 + 7
    names = np.array([f"Cliente {i:05d}" for i in range(1, customers + 1)], dtype=object)
    tally: dict[date, np.ndarray] = {}
    for d in range(days):
        day = FIRST_DAY + timedelta(days=d)
        minutes = np.datetime64(day.isoformat(), "m") + np.arange(1440)
        active = rng.random((customers, 1440)) < p_active[:, None]
        cust_idx, minute_idx = np.nonzero(active)
        counts = rng.poisson(mean_per_minute[cust_idx]).astype(np.int64) + 1
        minute_values = minutes[minute_idx]
        local_day = (minute_values - np.timedelta64(TZ_HOURS, "h")).astype("datetime64[D]")
        for lday in (day - timedelta(days=1), day):
            sel = local_day == np.datetime64(lday.isoformat(), "D")
            tally.setdefault(lday, np.zeros(customers, dtype=np.int64))
            np.add.at(tally[lday], cust_idx[sel], counts[sel])
        ts = minute_values.astype("datetime64[us]")
        gold = pa.table({
            "customer_id": ids[cust_idx], "customer_name": pa.array(names[cust_idx], pa.string()),
            "channel": pa.array(np.full(len(cust_idx), "Whatsapp", dtype=object), pa.string()),
            "minute": pa.array(ts, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            "notifications": counts,
            "event_date": pa.array(np.full(len(cust_idx), np.datetime64(day.isoformat(), "D")),
                                   pa.date32()),
            "event_hour": pa.array((minute_idx // 60).astype(np.int32), pa.int32()),
        })
        updated = pa.array([datetime(2020, 2, 8, tzinfo=UTC)] * len(cust_idx),
                           pa.timestamp("us", tz="UTC"))
        gold = gold.append_column("updated_at", updated)
        write_deltalake(str(folder / "gold"), gold, partition_by=["event_date", "event_hour"],
                        mode="append")
        rollup = (
            pl.from_arrow(gold).sort("minute")
            .group_by("customer_id", "customer_name", "channel", "event_date", "event_hour")
            .agg(pl.col("notifications").sum(), pl.col("minute").max().alias("last_minute"),
                 pl.col("notifications").last().alias("last_minute_notifications"),
                 pl.col("updated_at").max())
        )
        write_deltalake(str(folder / "rollup"), rollup.to_arrow(),
                        partition_by=["event_date", "event_hour"], mode="append")
        print(f"  generated {day}: {len(cust_idx):,} gold rows", flush=True)
    return tally


def dataset(args) -> tuple[Path, dict[date, np.ndarray], int]:
    customers, days = (5000, 7) if args.full else (args.customers, args.days)
    folder = REPO / ".esteira" / "bench" / "web" / f"c{customers}_d{days}"
    tally_file = folder / "tally.npz"
    if not tally_file.is_file():
        if folder.exists():
            subprocess.run(["rm", "-rf", str(folder)], check=True)
        (folder / "notifications").mkdir(parents=True)
        print(f"generating {customers:,} customers x {days} days of per-minute gold ...")
        tally = generate(folder / "notifications", customers, days)
        np.savez(tally_file, **{d.isoformat(): v for d, v in tally.items()})
    saved = np.load(tally_file)
    return folder, {date.fromisoformat(k): saved[k] for k in saved.files}, customers


def start_server(folder: Path, port: int, notifications: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "ESTEIRA_HOME": str(folder),
           "ESTEIRA_NOTIFICATIONS__ROOT": str(notifications or folder / "notifications"),
           "ESTEIRA_BILLING__ROOT": str(folder / "billing")}
    proc = subprocess.Popen([sys.executable, "-m", "esteira.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                why = proc.stderr.read()[-2000:] if proc.poll() is not None else "timeout"
                raise SystemExit(f"esteira serve did not start: {why}") from None
            time.sleep(0.2)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(client: httpx.Client, path: str | list[str], i: int = 0) -> float:
    path = path if isinstance(path, str) else path[i % len(path)]
    start = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - start
    check(response.status_code == 200, f"{path} answered {response.status_code}")
    return elapsed


def measure(base: str, path: str | list[str], n: int) -> dict[str, list[float]]:
    """Latencies of `n` requests one at a time, then `n` with IN_FLIGHT in flight."""
    with httpx.Client(base_url=base, timeout=60) as client:
        alone = [timed(client, path, i) for i in range(n)]
    clients = [httpx.Client(base_url=base, timeout=60) for _ in range(IN_FLIGHT)]
    try:
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            busy = list(pool.map(lambda i: timed(clients[i % IN_FLIGHT], path, i),
                                 range(max(n, IN_FLIGHT * 5))))
    finally:
        for c in clients:
            c.close()
    return {"alone": alone, "in flight": busy}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--customers", type=int, default=500, help="quick size (no --full)")
    parser.add_argument("--days", type=int, default=2, help="quick size (no --full)")
    parser.add_argument("--requests", type=int, default=100, help="per endpoint and round")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--freshness", action="store_true",
                        help="also freshness end to end: Kafka + the stream (JVM) + serve")
    parser.add_argument("--fresh-rate", type=float, default=1000)
    parser.add_argument("--fresh-seconds", type=float, default=60,
                        help="measured seconds, after --fresh-warmup seconds of the same traffic")
    parser.add_argument("--fresh-warmup", type=float, default=60)
    args = parser.parse_args()
    if args.freshness:
        run_freshness(args)
    folder, tally, customers = dataset(args)
    day = max(tally) - timedelta(days=1)  # the last whole local day
    big = 1007
    # a different customer each request (every size, largest first), so no cache helps
    some = [1007 + 1000 * int(r) for r in np.unique(np.geomspace(1, customers, 40).astype(int))
            - 1]
    paths: dict[str, str | list[str]] = {
        "home page": f"/?day={day}",
        "home table (htmx refresh)": f"/partials/customers?day={day}",
        "API customers (page 1 by count)": f"/api/customers?day={day}",
        "API customers (search by name)": [f"/api/customers?day={day}&q=cliente%20{i:03d}"
                                           for i in range(1, 41)],
        "customer page": [f"/customers/{c}?day={day}" for c in some],
        "API customer": [f"/api/customers/{c}?day={day}" for c in some],
        "API minutes": [f"/api/customers/{c}/minutes?day={day}" for c in some],
        "API minutes (largest customer)": f"/api/customers/{big}/minutes?day={day}",
    }
    server = start_server(folder, args.port)
    base = f"http://127.0.0.1:{args.port}"
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            cold = {name: timed(client, path) for name, path in paths.items()}
            rss_cold = peak_rss_mb(server.pid)
        rounds: dict[str, dict[str, list[tuple[float, float]]]] = {
            name: {"alone": [], "in flight": []} for name in paths}
        for r in range(args.repeat):
            for name, path in paths.items():
                for mode, values in measure(base, path, args.requests).items():
                    rounds[name][mode].append((pct(values, 50), pct(values, 95)))
            print(f"  round {r + 1} of {args.repeat} done", flush=True)
        checks = verify(base, day, tally[day], big)
        rss = peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    print(f"\nweb dashboard: {customers:,} customers, {len(tally) - 1} days of per-minute gold "
          f"({folder}), day {day}; {args.requests} requests per endpoint and round, "
          f"{IN_FLIGHT} in flight; {args.repeat} warm rounds (median of the rounds, min-max)")
    for name in paths:
        print(f"{name}: cold (first request after start) {cold[name] * 1000:.0f} ms")
        for mode in ("alone", "in flight"):
            p50 = [a * 1000 for a, _ in rounds[name][mode]]
            p95 = [b * 1000 for _, b in rounds[name][mode]]
            verdict = "met" if statistics.median(p95) < TARGETS[mode] * 1000 else "MISSED"
            print(f"  {mode:9s} p50 {spread(p50, 'ms', 1)} | p95 {spread(p95, 'ms', 1)} "
                  f"[target p95 < {TARGETS[mode] * 1000:.0f} ms: {verdict}]")
    print(f"web process peak RSS: {rss:.0f} MB after the runs ({rss_cold:.0f} MB after the "
          f"first request to each page) [target < {RSS_TARGET_MB} MB: "
          f"{'met' if rss < RSS_TARGET_MB else 'MISSED'}]")
    print_checks("home API and minutes", checks)


def run_freshness(args) -> None:
    """Freshness end to end, `--repeat` runs (each a fresh topic, stream and server)."""
    from notifications_stream import Trial, check_tables
    from web_freshness import VersionPoller, latencies

    p50s, p95s = [], []
    for run in range(max(args.repeat, 1)):
        work = REPO / ".esteira" / "bench" / "web_fresh"
        work.mkdir(parents=True, exist_ok=True)
        trial = Trial(work, args.fresh_rate, args.fresh_seconds, 2.0)
        server = None
        try:
            trial.start_stream("--until-idle", "15s")
            server = start_server(trial.root.parent, args.port + 1, trial.root)
            with VersionPoller(f"http://127.0.0.1:{args.port + 1}") as poller:
                thread, done = trial.produce(args.fresh_warmup + args.fresh_seconds)
                measured_from = time.time() + args.fresh_warmup
                thread.join()
                trial.proc.wait(timeout=1800)
                time.sleep(2)  # the poller sees the last commit
            checks = check_tables(trial, done[0])
            seconds = latencies(trial.root, poller.first_seen, measured_from)
        finally:
            if server is not None:
                server.send_signal(signal.SIGINT)
                server.wait(timeout=30)
            trial.stop()
        check(len(seconds) > 0, f"run {run + 1}: {len(seconds):,} messages measured")
        p50s.append(pct(seconds, 50))
        p95s.append(pct(seconds, 95))
        print(f"  freshness run {run + 1}: {len(seconds):,} messages, p50 {p50s[-1]:.1f} s, "
              f"p95 {p95s[-1]:.1f} s, max {max(seconds):.1f} s", flush=True)
        print_checks("stream tables", checks)
    verdict = "met" if statistics.median(p95s) < 15 else "MISSED"
    print(f"freshness at {args.fresh_rate:,.0f} msg/s (broker -> home API, after "
          f"{args.fresh_warmup:.0f} s of warm-up; the page asks every 5 s on top): "
          f"p50 {spread(p50s)} | p95 {spread(p95s)} [target p95 < 15 s: {verdict}]\n")


def verify(base: str, day: date, expected: np.ndarray, big: int) -> list[str]:
    """The home API's counts for the day (every page) against the generator's tally."""
    got: dict[int, int] = {}
    page = 1
    with httpx.Client(base_url=base, timeout=120) as client:
        while True:
            body = client.get(f"/api/customers?day={day}&size=1000&page={page}").json()
            got.update({r["customer_id"]: r["notifications"] for r in body["customers"]})
            if page >= body["pages"]:
                break
            page += 1
        minutes = client.get(f"/api/customers/{big}/minutes?day={day}").json()
    want = {(i + 1) * 1000 + 7: int(n) for i, n in enumerate(expected)}
    got_active = {k: v for k, v in got.items() if v}
    return [
        check(got_active == {k: v for k, v in want.items() if v},
              f"day {day}: {len(got_active):,} customers' counts equal the generator's tally "
              f"({sum(want.values()):,} notifications)"),
        check(sum(sum(s) for s in minutes["series"].values()) == want[big],
              f"customer {big}: per-minute series sums to {want[big]:,}"),
    ]


if __name__ == "__main__":
    main()
