"""Runs planned steps one after another in this process and says how each one went.

Each step runs its `esteira` command as the command line would (the global options of
this process hold for all of them); rows in, out and rejected come from the run-log
records of the runs the step's jobs made (collected in this process, so that other
processes writing the same run log do not count). A failed step does not stop the
next: only the steps that name it in `after` are skipped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import typer

from esteira import alerts
from esteira.errors import EsteiraError, first_line
from esteira.logs import console
from esteira.orchestrate.plan import PlannedStep, find_command
from esteira.runlog import Run, collect_runs

log = logging.getLogger(__name__)
Status = Literal["succeeded", "failed", "skipped"]


@dataclass
class Outcome:
    """How one step went; `reason` says why it failed or was skipped."""

    step: str
    command: str
    status: Status
    seconds: float = 0.0
    rows_in: int | None = None
    rows_out: int | None = None
    rejected: int | None = None
    runs: list[str] = field(default_factory=list)  # run-log run ids
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run_steps(steps: list[PlannedStep]) -> list[Outcome]:
    done: dict[str, Outcome] = {}
    for step in steps:
        blocked = [a for a in step.after if a in done and done[a].status != "succeeded"]
        if not step.enabled:
            outcome = Outcome(step.name, step.command_line, "skipped",
                              reason=f"disabled (run.steps.{step.name}.enabled: false)")
        elif not step.available:
            outcome = Outcome(step.name, step.command_line, "skipped",
                              reason=f"`esteira {' '.join(step.argv[:2])}` is not in this "
                              f"build yet (declared in run.steps.{step.name})")
        elif blocked:
            outcome = Outcome(step.name, step.command_line, "skipped",
                              reason=f"after {', '.join(blocked)}, which did not succeed")
        else:
            outcome = run_step(step)
        if outcome.status == "skipped":
            log.warning("step %s skipped: %s", step.name, outcome.reason)
        done[step.name] = outcome
    return list(done.values())


def run_step(step: PlannedStep) -> Outcome:
    """One step's command, its exceptions turned into one line (never the data's text)."""
    console.rule(f"[bold]{step.name}[/]: {step.command_line}", style="dim")
    found = find_command(step.argv)
    if found is None:  # planned as available: the CLI changed under us
        return Outcome(step.name, step.command_line, "skipped", reason="no such command")
    command, path, args = found
    start = time.perf_counter()
    reason = None
    try:
        with collect_runs() as records:
            code = command.main(args=args, prog_name="esteira " + " ".join(path),
                                standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except SystemExit as exc:  # a command that calls sys.exit: its status, not ours
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except EsteiraError as exc:
        code, reason = None, first_line(exc)
    except typer.TyperException as exc:  # a bad option in run.steps: names the option
        format_message = getattr(exc, "format_message", None)
        message = format_message() if format_message else str(exc)
        code, reason = None, f"{exc.__class__.__name__}: {message}"
    except Exception as exc:  # its class only: an engine's text can quote a row's values
        log.error("step %s: unexpected failure (a bug: please report it): %s; rerun with "
                  "--log-level DEBUG for the traceback", step.name, type(exc).__name__)
        log.debug("traceback", exc_info=exc)
        code, reason = None, exc.__class__.__name__
    if isinstance(code, int) and code != 0:
        reason = f"exit status {code}"
    seconds = round(time.perf_counter() - start, 1)
    outcome = Outcome(
        step.name, step.command_line, "failed" if reason else "succeeded", seconds,
        _total(records, "inputs"), _total(records, "outputs"), _total(records, "rejected"),
        [r.run_id for r in records], reason,
    )
    if reason:
        log.error("step %s failed: %s", step.name, reason)
        if not records:  # a job's own failure was already sent by its run record
            alerts.send("run_failed", f"esteira run: step {step.name} failed: {reason}",
                        pipeline=f"run.{step.name}", error=reason)
    return outcome


def _total(records: list[Run], key: str) -> int | None:
    if not records:
        return None
    return sum(sum(getattr(r, key).values()) for r in records)
