"""From the `run` settings to a plan: each step's command line resolved for one date.

A step whose command this build does not have (a system still to come) is planned as
unavailable, so `run all` reports it as skipped instead of failing on it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from esteira.errors import ConfigError, InputError
from esteira.settings import Settings

PLACEHOLDERS = ("date", "date-N", "month", "data", "home")
_DAYS_BEFORE = re.compile(r"^date-(\d{1,3})$")  # {date-1}: the day before the run date


@dataclass(frozen=True)
class PlannedStep:
    name: str
    argv: list[str]  # `esteira` arguments, placeholders filled in
    after: list[str]
    available: bool  # the command exists in this build
    enabled: bool = True  # `run step` of a disabled step skips it

    @property
    def command_line(self) -> str:
        return "esteira " + " ".join(self.argv)


def run_date(settings: Settings, value: str | None) -> date:
    """`--date` as AAAA-MM-DD; today in the company's time zone when not given."""
    if value is None:
        return datetime.now(ZoneInfo(settings.timezone)).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError("--date", f"{value!r} is not a date (use AAAA-MM-DD)") from None


def plan(settings: Settings, day: date, only: list[str] | None = None) -> list[PlannedStep]:
    """The enabled steps in their configured order (or just `only`, in that order, the
    disabled ones among them planned as such)."""
    steps = settings.run.steps
    for name, step in steps.items():
        unknown = [a for a in step.after if a not in steps]
        if unknown:
            raise ConfigError(f"run.steps.{name}.after names unknown step(s) {', '.join(unknown)}")
    names = [n for n, s in steps.items() if s.enabled] if only is None else only
    missing = [n for n in names if n not in steps]
    if missing:
        raise ConfigError(f"no step {', '.join(missing)} in run.steps; one of {', '.join(steps)}")
    values = {"date": day.isoformat(), "month": day.strftime("%Y-%m"),
              "data": str(settings.run.folder(settings.home)), "home": str(settings.home)}
    return [
        PlannedStep(name, [_fill(a, values, name) for a in steps[name].command],
                    list(steps[name].after), find_command(steps[name].command) is not None,
                    steps[name].enabled)
        for name in names
    ]


def _fill(arg: str, values: dict[str, str], step: str) -> str:
    fields = {f for _, f, _, _ in string.Formatter().parse(arg) if f is not None}
    for name in fields:
        before = _DAYS_BEFORE.match(name)
        if before:
            day = date.fromisoformat(values["date"]) - timedelta(days=int(before.group(1)))
            values = {**values, name: day.isoformat()}
    unknown = fields - set(values)
    if unknown:
        raise ConfigError(
            f"run.steps.{step}.command: unknown placeholder {{{sorted(unknown)[0]}}}; "
            f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
        )
    return arg.format_map(values)


def find_command(argv: list[str]) -> tuple[Any, list[str], list[str]] | None:
    """The `esteira` leaf command that `argv` names, the words naming it, and its own
    arguments; None when this build has no such command."""
    import typer
    from typer.core import TyperGroup

    from esteira.cli import app

    command = typer.main.get_command(app)
    path, rest = [], list(argv)
    while isinstance(command, TyperGroup):
        if not rest:
            return None
        sub = command.get_command(typer.Context(command, info_name="esteira"), rest[0])
        if sub is None:
            return None
        command = sub
        path.append(rest.pop(0))
    return command, path, rest
