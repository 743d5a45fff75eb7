"""Run an `esteira` command in-process and gather every output it can leave behind.

A privacy test needs more than stdout: what the command printed (stdout, stderr, at the
file-descriptor level, so Sail's and native libraries' writes count too), in both log
formats, the lines it appended to the run log, and what the JVM wrote to its own
stdout/stderr (JVM Spark's log4j console appender; the JVM is a child process with
inherited descriptors, so pytest's capture of this process does not see it).

    from privacy import Gatherer
    from canaries import NAME

    def test_privacy(engine, capfd, tmp_path):
        gather = Gatherer(engine, capfd)
        for out in gather.both_formats("portfolio", "assign", "--clients", ...):
            out.assert_clean()          # no canary in any channel
        gather.run(...).expect_error(2, "clients.csv", "row 3", "email")

`capfd` is required (not capsys): a test cannot hold both, so do not use `run_cli` in the
same test.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from canaries import assert_no_canary, leaks
from esteira import cli

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".esteira"


@dataclass
class Outputs:
    """Everything one command left behind, by channel."""

    argv: list[str]
    code: int
    stdout: str
    stderr: str
    runlog: list[dict] = field(default_factory=list)
    jvm: str = ""

    def channels(self) -> dict[str, str]:
        return {
            "stdout": self.stdout,
            "stderr": self.stderr,
            "run log": "\n".join(json.dumps(r, ensure_ascii=False) for r in self.runlog),
            "JVM output": self.jvm,
        }

    def assert_clean(self) -> None:
        """No canary in any channel (the message names the channel and the command)."""
        for where, text in self.channels().items():
            assert_no_canary(text, f"{where} of `esteira {' '.join(self.argv)}`")

    @property
    def error(self) -> str:
        """The command's error line (`error: ...` on stderr), '' when there is none."""
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("error:")]
        return lines[-1] if lines else ""

    def expect_error(self, code: int = 2, *fragments: str) -> str:
        """Asserts the exit status, exactly one error line holding every fragment, and no
        traceback; returns the line."""
        assert self.code == code, (self.code, self.stdout[-800:], self.stderr[-1500:])
        errors = [ln for ln in self.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, self.stderr[-1500:]
        assert "Traceback" not in self.stderr, self.stderr[-1500:]
        for fragment in fragments:
            assert fragment in errors[0], (fragment, errors[0])
        return errors[0]


def delta_version(table: Path) -> int | None:
    """The latest commit of a Delta table (None when there is no table)."""
    commits = [int(p.stem) for p in (Path(table) / "_delta_log").glob("*.json")]
    return max(commits) if commits else None


def snapshot(*paths: Path) -> dict[str, object]:
    """What a failed command must leave as it was: a Delta table's version, a file's
    bytes, a folder's files and their sizes (None for a path that does not exist)."""
    state: dict[str, object] = {}
    for path in map(Path, paths):
        if (path / "_delta_log").is_dir():
            state[str(path)] = ("delta", delta_version(path))
        elif path.is_file():
            state[str(path)] = path.read_bytes()
        elif path.is_dir():
            state[str(path)] = sorted(
                (str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*") if p.is_file()
            )
        else:
            state[str(path)] = None
    return state


class Gatherer:
    """Runs `esteira --engine <engine> [--log-format F] ...` in this process (reusing the
    suite's session) and returns its Outputs."""

    def __init__(self, engine: str, capfd: pytest.CaptureFixture[str]) -> None:
        self.engine = engine
        self.capfd = capfd
        self.runs_file = HOME / "runs.jsonl"

    def run(self, *args: object, log_format: str = "text") -> Outputs:
        argv = [str(a) for a in args]
        jvm = _JvmOutput.find()
        start = self.runs_file.stat().st_size if self.runs_file.exists() else 0
        self.capfd.readouterr()
        home = os.environ.get("ESTEIRA_HOME")
        os.environ["ESTEIRA_HOME"] = str(HOME)  # the run log read below is this one
        try:
            code = cli.main(["--engine", self.engine, "--log-format", log_format, *argv])
        finally:
            if home is None:
                os.environ.pop("ESTEIRA_HOME")
            else:
                os.environ["ESTEIRA_HOME"] = home
        out, err = self.capfd.readouterr()
        return Outputs(
            argv=["--log-format", log_format, *argv],
            code=code,
            stdout=out,
            stderr=err,
            runlog=self._new_runs(start, argv),
            jvm=jvm.read() if jvm else "",
        )

    def both_formats(self, *args: object) -> list[Outputs]:
        """The command run twice: text logs, then JSON logs."""
        return [self.run(*args, log_format=fmt) for fmt in ("text", "json")]

    def _new_runs(self, start: int, argv: list[str]) -> list[dict]:
        """Run-log lines appended since `start` by this command's system (other test
        processes may share the file)."""
        if not self.runs_file.exists():
            return []
        with self.runs_file.open("rb") as fh:
            fh.seek(start)
            text = fh.read().decode("utf-8", errors="replace")
        system = next((a for a in argv if not a.startswith("-")), "")
        runs = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if str(record.get("pipeline", "")).startswith(f"{system}."):
                runs.append(record)
        return runs


class _JvmOutput:
    """The JVM child's stdout and stderr, when they are files (pytest's fd capture at
    the time the JVM started): read through /proc from the position they had before
    the command, so only this command's lines are read."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.starts = [_size(p) for p in paths]

    @classmethod
    def find(cls) -> _JvmOutput | None:
        pid = _jvm_pid()
        if pid is None:
            return None
        paths = [Path(f"/proc/{pid}/fd/{fd}") for fd in (1, 2)]
        files = [p for p in paths if p.exists() and stat.S_ISREG(p.stat().st_mode)]
        if not files:
            pytest.skip("the JVM's stdout/stderr are not files (pytest -s?): cannot read them")
        return cls(files)

    def read(self) -> str:
        chunks = []
        for path, start in zip(self.paths, self.starts, strict=True):
            with path.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(start if start <= size else 0)  # truncated meanwhile: read it all
                chunks.append(fh.read().decode("utf-8", errors="replace"))
        return "\n".join(chunks)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _jvm_pid() -> int | None:
    """The pid of this process's JVM (JVM Spark only), else None."""
    try:
        from pyspark import SparkContext
    except ImportError:  # pragma: no cover
        return None
    gateway = getattr(SparkContext, "_gateway", None)
    proc = getattr(gateway, "proc", None)
    return proc.pid if proc is not None and proc.poll() is None else None


__all__ = ["Gatherer", "Outputs", "assert_no_canary", "delta_version", "leaks", "snapshot"]
