"""Runs the batch jobs through the `esteira` CLI, all in one process, for the cluster tests.

    python tests/cluster/jobs.py --inputs DIR --out DIR [--generate] -- <global options>

e.g. `-- --engine spark --master spark://127.0.0.1:7077`. The jobs run in-process one
after the other (`esteira.cli.main`), so one driver (or one Connect session) serves
all of them, as one JVM would in a scheduler's task. With --generate the inputs are
written first by `esteira datagen` (run it with `-- --engine sail`). Each job's exit code and
seconds go to OUT/jobs.json; its stdout and stderr to OUT/<job>.out / .err.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

DAY = "2024-05-28"


def datagen(inputs: Path) -> dict[str, list[str]]:
    """Small inputs with the generators' dirt (bad rows, skewed keys) included."""
    return {
        "gen-portfolio": ["datagen", "portfolio", "--clients", "2000", "--managers", "30",
                          "--keys", "5", "--out", f"{inputs}/portfolio"],
        "gen-quarantine": ["datagen", "quarantine", "--rows", "2000", "--date", DAY,
                           "--out", f"{inputs}/quarantine"],
        "gen-invoices": ["datagen", "invoices", "--rows", "2000", "--accounts", "200",
                         "--out", f"{inputs}/invoices"],
        "gen-chatbot": ["datagen", "chatbot", "--events", "2000", "--sessions", "200",
                        "--out", f"{inputs}/chatbot"],
        # SiCooperative's source database, in the schema the caller names in the environment
        # (ESTEIRA_WAREHOUSE__SOURCE_SCHEMA) on the PostgreSQL it names (ESTEIRA_POSTGRES__*)
        "gen-warehouse": ["datagen", "warehouse", "--associados", "200", "--movimentos", "2000"],
    }


def jobs(inputs: Path, out: Path) -> dict[str, list[str]]:
    """Every batch job, with its outputs under OUT/<job>."""
    return {
        "portfolio": ["portfolio", "assign", "--clients", f"{inputs}/portfolio/clients",
                      "--managers", f"{inputs}/portfolio/managers", "--out", f"{out}/portfolio"],
        "quarantine": ["quarantine", "build", "--date", DAY, "--sources", f"{inputs}/quarantine"],
        "invoices": ["invoices", "averages", "--input", f"{inputs}/invoices", "--reference",
                     "2020-01", "--windows", "3,6", "--out", f"{out}/invoices/averages.csv"],
        "chatbot": ["chatbot", "answers", "--input", f"{inputs}/chatbot", "--hours", "13,14",
                    "--date", "2019-12-16", "--out", f"{out}/chatbot"],
        "warehouse": ["warehouse", "run", "--date", DAY],
    }


def job_env(out: Path) -> dict[str, str]:
    """Settings that would otherwise point into the shared .esteira home."""
    return {
        "ESTEIRA_QUARANTINE__TABLE": f"{out}/quarantine/table",
        "ESTEIRA_QUARANTINE__REJECTS": f"{out}/quarantine/rejects",
        "ESTEIRA_QUARANTINE__STAGING": f"{out}/work/quarantine-staging",
        "ESTEIRA_QUARANTINE__DOWNLOADS": f"{out}/work/quarantine-downloads",
        "ESTEIRA_WAREHOUSE__TARGET": "delta",
        "ESTEIRA_WAREHOUSE__DELTA_ROOT": f"{out}/warehouse/delta",
        "ESTEIRA_WAREHOUSE__FLAT_FILE": f"{out}/warehouse/movimento_flat.csv",
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--generate", action="store_true")
    parser.add_argument("options", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    options = [o for o in args.options if o != "--"]
    os.environ.update(job_env(args.out))
    from esteira import cli

    todo = {**(datagen(args.inputs) if args.generate else {}), **jobs(args.inputs, args.out)}
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, argv in todo.items():
        out, err = io.StringIO(), io.StringIO()
        start = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([*options, *argv])
        results[name] = {"code": code, "seconds": round(time.monotonic() - start, 2)}
        (args.out / f"{name}.out").write_text(out.getvalue(), encoding="utf-8")
        (args.out / f"{name}.err").write_text(err.getvalue(), encoding="utf-8")
    (args.out / "jobs.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0 if all(r["code"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
