"""Benchmark: the notification stream of two revisions, side by side on one machine.

Runs `bench/notifications_stream.py` of each revision in turn (order alternated per round,
so that drift in the machine's load falls on both), `--repeat` rounds, against the same
broker, and prints every run, the medians and the ratios (this tree / the other revision):

- throughput: `--rate` msg/s of real-time traffic for `--seconds`; the lag (records not
  yet counted) after the stream's last batch while sending, the seconds it took to drain
  after sending stopped, and the verdict (kept up: the lag did not grow);
- freshness at 5,000 msg/s after `--warmup` s: p50 and p95 from a message reaching the
  broker to the gold commit that counted it.

Every run is a fresh stream process (a cold JVM); freshness is measured warm (after the
warm-up). Medians with their spread (min-max) over the rounds. The checks are the
benchmark's own (this tree's `notifications_stream.py` compares gold, silver and bronze
with the generator's tally after every run and fails on a difference); a run that
reports no figure stops this benchmark.

The other revision is checked out with `git worktree` into a temporary folder and runs
with this venv (its own src first on PYTHONPATH) and this tree's jars.

    .venv/bin/python bench/notifications_revisions.py --before c041b2b --repeat 3
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import base_parser, spread

from esteira.endpoints import kafka_bootstrap
from esteira.services import kafka as kafka_service
from esteira.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
# both report formats: before (one run per figure) and after (runs numbered, bronze lag)
_FRESH = re.compile(r"freshness.*?: (?:warm )?p50 (?P<p50>[\d.]+) s, p95 (?P<p95>[\d.]+) s")
_STEP = re.compile(
    r"msg/s(?: run \d+)?: sent\s+(?P<sent>[\d,]+)/s, lag after each batch "
    r"\[(?P<lags>[^\]]*)\](?: \(bronze \[[^\]]*\]\))?, "
    r"drained in (?P<drain>[\d.]+) s -> (?P<verdict>[^(]+?) \(load"
)


def checkout(rev: str, into: Path) -> Path:
    tree = into / f"rev-{rev}"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(tree), rev],
                   check=True, capture_output=True)
    (tree / ".esteira").mkdir(exist_ok=True)
    (tree / ".esteira" / "jars").symlink_to(REPO / ".esteira" / "jars")
    return tree


def run_bench(tree: Path, env: dict[str, str], args: list[str], keep: Path | None) -> str:
    script = (tree / "bench" / "notifications_stream.py").read_text(encoding="utf-8")
    if "--repeat" in script:  # one run per call: the rounds here are the repetitions
        args = [*args, "--repeat", "1"]
    proc = subprocess.run(
        [sys.executable, str(tree / "bench" / "notifications_stream.py"), *args],
        cwd=tree, env={**env, "PYTHONPATH": str(tree / "src")},
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"the benchmark of {tree.name} failed ({proc.returncode}):\n{tail}")
    if keep is not None:  # every run's own report, to check the parsed figures against
        with keep.open("a", encoding="utf-8") as fh:
            fh.write(f"== {tree.name} {' '.join(args)}\n{proc.stdout}\n")
    return proc.stdout


def parse(out: str) -> dict[str, float | str]:
    found: dict[str, float | str] = {}
    for line in out.splitlines():
        if step := _STEP.search(line):
            lags = [int(x.replace(",", "")) for x in step["lags"].split(", ") if x]
            found.update(sent=float(step["sent"].replace(",", "")), drain=float(step["drain"]),
                         last_lag=float(lags[-1]) if lags else 0.0,
                         verdict=step["verdict"].strip())
        if fresh := _FRESH.search(line.strip()):
            found.update(p50=float(fresh["p50"]), p95=float(fresh["p95"]))
    return found


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--before", default="c041b2b",
                        help="the other revision (commit or ref; default: before issue 12)")
    parser.add_argument("--rate", type=int, default=None, help="throughput step, msg/s "
                        "(default 5,000; --full 20,000)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="throughput window (default 30; --full 240)")
    parser.add_argument("--fresh-seconds", type=float, default=None, help="default 30; --full 120")
    parser.add_argument("--warmup", type=float, default=None, help="default 20; --full 60")
    parser.add_argument("--keep", type=Path, help="append every run's raw report to this file")
    args = parser.parse_args()
    args.rate = args.rate or (20000 if args.full else 5000)
    args.seconds = args.seconds or (240 if args.full else 30)
    args.fresh_seconds = args.fresh_seconds or (120 if args.full else 30)
    args.warmup = args.warmup if args.warmup is not None else (60 if args.full else 20)
    settings = load_settings(home=REPO / ".esteira")
    kafka_service.up(settings)
    # one broker for both: external to both benchmarks, so neither starts its own
    env = {**os.environ, "ESTEIRA_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap(settings)}
    throughput = ["--rates", str(args.rate), "--seconds", str(args.seconds), "--skip-freshness"]
    fresh = ["--skip-throughput", "--seconds", str(args.fresh_seconds),
             "--warmup", str(args.warmup)]
    results: dict[str, list[dict]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="bench-revs-") as tmp:
        trees = {"before": checkout(args.before, Path(tmp)), "after": REPO}
        try:
            for round_ in range(args.repeat):
                order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
                for side in order:
                    found = parse(run_bench(trees[side], env, throughput, args.keep))
                    found.update(parse(run_bench(trees[side], env, fresh, args.keep)))
                    found["load"] = os.getloadavg()[0]
                    results[side].append(found)
                    print(f"round {round_ + 1} {side:>6}: {_row(found)}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(trees["before"])], check=False, capture_output=True)
    print(f"\nmedians of {args.repeat} (before = {args.before}, after = this tree):")
    for key, label in (("drain", "drain after sending (s)"), ("last_lag", "last lag (records)"),
                       ("p50", "freshness p50 (s)"), ("p95", "freshness p95 (s)")):
        values = {side: [float(r[key]) for r in results[side]] for side in results}
        before = statistics.median(values["before"])
        after = statistics.median(values["after"])
        ratio = after / before if before else float("nan")
        print(f"  {label:<26} before {spread(values['before'], '', 1)}  "
              f"after {spread(values['after'], '', 1)}  after/before {ratio:.2f}")
    for side in ("before", "after"):
        verdicts = ", ".join(str(r["verdict"]) for r in results[side])
        print(f"  {side} at {args.rate:,} msg/s: {verdicts}")


def _row(found: dict) -> str:
    return (f"{found.get('sent', 0):,.0f}/s sent, last lag "
            f"{found.get('last_lag', 0):,.0f}, drained in {found.get('drain', 0):.0f} s "
            f"({found.get('verdict', '?')}); p50 {found.get('p50', 0):.1f} s, "
            f"p95 {found.get('p95', 0):.1f} s (load {found['load']:.1f})")


if __name__ == "__main__":
    main()
