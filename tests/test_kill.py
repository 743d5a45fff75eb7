"""A batch command killed with SIGKILL in the middle of its write (issue 13, item 4d).

For portfolio, quarantine, invoices and chatbot: a first run writes every output table
(version N). The same command then runs as a real `esteira` process and is killed with
SIGKILL at a controlled moment: the first table it writes holds new data files that its
Delta log does not yet reference (the write is in flight). Then:
- every output table is still at version N and reads back exactly as before;
- the rerun succeeds, moves each table to N+1 and gives the same rows as the
  uninterrupted first run (the killed run's leftovers change nothing).

Both engines: the moment is found by looking at the table's folder while the real
`esteira --engine <engine>` process group is stopped, between 1 ms slices of its run;
SIGKILL goes to the whole group (on the JVM engine each killed run starts a JVM of its
own, a child process).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from esteira import cli
from privacy import delta_version

ENGINE = os.environ.get("ESTEIRA_TEST_ENGINE", "sail")
ESTEIRA = Path(sys.executable).with_name("esteira")
DAY = "2024-05-28"


def _portfolio(root: Path) -> tuple[list[str], list[Path]]:
    _cli("datagen", "portfolio", "--clients", "4000", "--managers", "60", "--out", root / "in")
    out = root / "out"
    argv = ["portfolio", "assign", "--clients", str(root / "in" / "clients"),
            "--managers", str(root / "in" / "managers"), "--out", str(out)]
    return argv, [out / "assignment", out / "unassigned", out / "rejects"]


def _quarantine(root: Path) -> tuple[list[str], list[Path]]:
    _cli("datagen", "quarantine", "--rows", "4000", "--date", DAY, "--out", root / "in")
    argv = ["quarantine", "build", "--date", DAY, "--sources", str(root / "in")]
    return argv, [root / "lake" / "q", root / "lake" / "r"]


def _invoices(root: Path) -> tuple[list[str], list[Path]]:
    _cli("datagen", "invoices", "--rows", "8000", "--accounts", "1500", "--out", root / "in")
    out = root / "averages"
    argv = ["invoices", "averages", "--input", str(root / "in"), "--out", str(out),
            "--format", "delta"]
    return argv, [out]


def _chatbot(root: Path) -> tuple[list[str], list[Path]]:
    _cli("datagen", "chatbot", "--events", "4000", "--sessions", "600", "--out", root / "lake")
    out = root / "out"
    argv = ["chatbot", "answers", "--input", str(root / "lake"), "--out", str(out)]
    return argv, [out / "answers"]  # flows/<flow> follow; their names come from the data


SYSTEMS: dict[str, Callable[[Path], tuple[list[str], list[Path]]]] = {
    "portfolio": _portfolio,
    "quarantine": _quarantine,
    "invoices": _invoices,
    "chatbot": _chatbot,
}


def _cli(*args: object) -> None:
    assert cli.main(["--engine", ENGINE, *map(str, args)]) == 0


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key, sub in (("TABLE", "lake/q"), ("REJECTS", "lake/r"), ("STAGING", "stage"),
                     ("DOWNLOADS", "down")):
        env[f"ESTEIRA_QUARANTINE__{key}"] = str(root / sub)
    return env


def _tables(root: Path, first: list[Path]) -> list[Path]:
    """Every output Delta table under the folders the command writes."""
    found = set(first)
    for base in {t.parent for t in first}:
        found |= {p.parent for p in base.rglob("_delta_log")}
    return sorted(found)


def _data_files(table: Path) -> set[str]:
    return {
        str(p) for p in table.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(table).parts)
    }


def _rows(spark, table: Path) -> list[tuple]:
    return sorted(tuple(map(str, r)) for r in spark.read.format("delta").load(str(table)).collect())


def _kill_mid_write(argv: list[str], table: Path, env: dict[str, str]) -> bool:
    """Starts `esteira argv`, kills it with SIGKILL as soon as `table` holds a data file
    its log does not have; True when that moment was hit (not the end of the run).

    Once the job logs its first write step, the process runs in slices of 1 ms between
    SIGSTOP and SIGCONT and the folder is looked at while it is stopped, so the look
    never races the write: on a fast machine a small table's files and its commit can
    land within one poll of a free run (CI once saw the whole write pass between two
    looks)."""
    before = _data_files(table)
    version = delta_version(table)
    log = Path(tempfile.mkstemp(prefix="esteira-killed-", suffix=".log")[1])
    with log.open("wb") as err:
        proc = subprocess.Popen([str(ESTEIRA), "--engine", ENGINE, *argv], env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    group = proc.pid  # the process group: on the JVM engine the JVM is a child process
    try:
        deadline = time.monotonic() + 600
        # Free until the job logs its first write step (the start-up and the reads, in
        # slices, were most of the JVM runs' time); the table is looked at from then on.
        while proc.poll() is None and time.monotonic() < deadline:
            if WRITE_STEP in log.read_bytes():
                break
            time.sleep(0.001)
        while proc.poll() is None and time.monotonic() < deadline:
            os.killpg(group, signal.SIGSTOP)
            try:
                if _data_files(table) - before:
                    os.killpg(group, signal.SIGKILL)
                    proc.wait()
                    return delta_version(table) == version
            finally:
                if proc.poll() is None:
                    os.killpg(group, signal.SIGCONT)
            time.sleep(0.001)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(group, signal.SIGKILL)
            proc.wait()
        log.unlink()


def _kill_until_mid_write(argv: list[str], table: Path, env: dict[str, str],
                          tables: list[Path], kept: Path) -> bool:
    """_kill_mid_write, tried again (up to ATTEMPTS) when the kill came too late: a small
    table's last data file and its commit can land within one 1 ms slice (the file is
    renamed into place just before the commit). Before each new try the tables are put
    back as they were (copies taken first), so every try starts from version N."""
    for i, t in enumerate(tables):
        shutil.copytree(t, kept / str(i))
    for _ in range(ATTEMPTS):
        if _kill_mid_write(argv, table, env):
            return True
        for i, t in enumerate(tables):
            shutil.rmtree(t)
            shutil.copytree(kept / str(i), t)
    return False


ATTEMPTS = 5
WRITE_STEP = b" - INFO - Writing "  # the progress line every job logs as a write step starts


@pytest.mark.parametrize("system", list(SYSTEMS))
def test_sigkill_mid_write_leaves_tables_as_they_were_and_rerun_converges(
    engine: str, spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, system: str
) -> None:
    env = _env(tmp_path)
    for key, value in env.items():
        if key.startswith("ESTEIRA_QUARANTINE__"):
            monkeypatch.setenv(key, value)
    argv, first = SYSTEMS[system](tmp_path)
    _cli(*argv)  # the uninterrupted run: version N of every table
    tables = _tables(tmp_path, first)
    versions = {t: delta_version(t) for t in tables}
    rows = {t: _rows(spark, t) for t in tables}

    assert _kill_until_mid_write(argv, first[0], env, tables, tmp_path / "kept"), (
        f"the kill did not land during the write in {ATTEMPTS} attempts")
    assert {t: delta_version(t) for t in tables} == versions  # every table at version N
    assert {t: _rows(spark, t) for t in tables} == rows  # and reads back as it was

    _cli(*argv)  # the rerun
    assert {t: delta_version(t) for t in tables} == {t: v + 1 for t, v in versions.items()}
    assert {t: _rows(spark, t) for t in tables} == rows  # same result as uninterrupted
