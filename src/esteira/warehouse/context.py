"""What the warehouse's steps share within one run (job.py runs them): the context, and
the staged movements a step hands the next one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from pyspark.sql import DataFrame, SparkSession

from esteira.connectors.staging import StagingArea
from esteira.runlog import Run
from esteira.settings import Settings
from esteira.warehouse.config import WarehouseSettings
from esteira.warehouse.delta_target import DeltaTarget
from esteira.warehouse.pg_target import PostgresTarget
from esteira.warehouse.request import WarehouseRequest


@dataclass
class StepContext:
    """What every step of a run shares: settings, session, target, request, stage, the
    run log's record, and what a step hands the next (see handed)."""

    settings: Settings
    cfg: WarehouseSettings
    session: SparkSession
    target: PostgresTarget | DeltaTarget
    request: WarehouseRequest
    stage: StagingArea
    run: Run
    declared: dict[str, dict[str, str]] = field(default_factory=dict)
    # movements a step just committed, staged, for the next step (see handed)
    handoff: dict[str, tuple[DataFrame, datetime | None]] = field(default_factory=dict)

    @property
    def open_end(self) -> datetime:
        return datetime.combine(date.fromisoformat(self.cfg.open_end), time(), UTC)

    @property
    def first_from(self) -> datetime:
        return datetime.combine(date.fromisoformat(self.cfg.first_version_from), time(), UTC)

    @property
    def load_ts(self) -> datetime:
        return self.request.load_ts


def handed(ctx: StepContext, table: str, after: datetime | None,
           upto: datetime | None) -> DataFrame | None:
    """The staged movements the previous step of this run committed to `table`, when
    they are exactly the rows of `table` loaded in (after, upto] that the next step
    would read back (5M rows read from PostgreSQL: about 8 s; from the stage: 1.5 s):
    this run's load is `upto`, after `after`, and nothing loaded before it was left
    for the next step (the table's previous load is `after`, or both are None)."""
    given = ctx.handoff.get(table)
    if given is None or upto != ctx.load_ts:
        return None
    frame, previous = given
    if after is None:
        return frame if previous is None else None
    return frame if previous is not None and previous <= after < ctx.load_ts else None


def last_load(ctx: StepContext, marks: dict, table: str, column: str) -> datetime | None:
    """The time of the last load into `table` (etl_controle's ultima_carga: every row it
    loaded carries it in `column`), or the largest `column` when no mark says it."""
    loaded = marks.get(table, {}).get("ultima_carga")
    return loaded if loaded is not None else ctx.target.latest(table, column)
