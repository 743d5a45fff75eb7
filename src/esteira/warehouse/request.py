"""What `warehouse run` is asked (the steps and the load date) and what it returns (what
each step read, wrote and rejected)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from esteira.errors import ConfigError
from esteira.warehouse.config import WarehouseSettings

STEPS = ("raw", "trusted", "dims", "facts", "extract")


@dataclass(frozen=True)
class WarehouseRequest:
    """The steps to run (in dependency order) and the load date (idade is computed as of
    it; without one, today in the warehouse's time zone)."""

    steps: tuple[str, ...]
    load_date: date
    load_ts: datetime

    @classmethod
    def parse(cls, defaults: WarehouseSettings, *, step: str | None = None,
              on: str | None = None, now: datetime | None = None) -> WarehouseRequest:
        if step is not None and step not in STEPS:
            raise ConfigError(f"--step must be one of {', '.join(STEPS)}, not {step!r}")
        zone = ZoneInfo(defaults.timezone)
        now = now or datetime.now(UTC)
        today = now.astimezone(zone).date()
        try:
            load_date = date.fromisoformat(on) if on else today
        except ValueError:
            raise ConfigError(f"--date must be a date as YYYY-MM-DD, not {on!r}") from None
        # a past date loads as of the end of that day; today (or later) as of now
        end_of_day = datetime.combine(load_date + timedelta(days=1), time(), zone)
        load_ts = min(now, end_of_day - timedelta(microseconds=1)).astimezone(UTC)
        return cls(steps=(step,) if step else STEPS, load_date=load_date, load_ts=load_ts)


@dataclass
class StepResult:
    step: str
    read: dict[str, int] = field(default_factory=dict)
    wrote: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class WarehouseResult:
    target: str
    steps: list[StepResult]
    flat_file: Path | None = None
