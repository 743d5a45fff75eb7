"""The daily bill: count a billing day, reconcile, price, write draft/final lines.

Phases: count the day from gold -> reconcile every line with silver's distinct
message_ids (a difference stops the run: nothing written) -> check the final lines
already billed are intact -> plan draft / final / adjustment lines -> one Delta commit
-> the day's txt and csv.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pyspark.sql import SparkSession

from esteira.billing import io, ledger, transforms
from esteira.billing.render import day_bounds
from esteira.errors import ConfigError, QualityError
from esteira.logs import step
from esteira.runlog import track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BillingRequest:
    day: date
    now: datetime  # when the run happens (UTC): decides draft or final
    out: Path | None = None  # folder of the txt/csv; default <billing root>/reports

    @classmethod
    def parse(
        cls, text: str, tz: str, as_of: str | None = None, out: Path | None = None
    ) -> BillingRequest:
        """--date YYYY-MM-DD, `yesterday` or `today` (in the billing time zone); a day
        that has not started yet is refused. --as-of (ISO instant) replaces the clock."""
        now = datetime.now(UTC)
        if as_of is not None:
            try:
                now = datetime.fromisoformat(as_of)
            except ValueError:
                raise ConfigError(
                    "--as-of: not an ISO date-time (e.g. 2020-02-05T12:00+00:00)"
                ) from None
            now = (now if now.tzinfo else now.replace(tzinfo=ZoneInfo(tz))).astimezone(UTC)
        today = now.astimezone(ZoneInfo(tz)).date()
        word = text.strip().lower()
        if word in ("yesterday", "today"):
            day = today - timedelta(days=word == "yesterday")
        else:
            try:
                day = date.fromisoformat(word) if len(word) == 10 else None
            except ValueError:
                day = None
            if day is None:
                raise ConfigError("--date: expected YYYY-MM-DD, yesterday or today")
        if day > today:
            raise ConfigError(
                f"--date: {day.isoformat()} is in the future in the billing time zone ({tz})"
            )
        return cls(day, now, out)


@dataclass(frozen=True)
class BillingResult:
    day: date
    status: str  # draft | final | adjusted | unchanged
    lines: list[dict[str, Any]]  # the day's bill after the run
    adjustments: list[dict[str, Any]]  # adjustment lines this run wrote (on open bills)
    files: list[Path]

    @property
    def notifications(self) -> int:
        return sum(r["notifications"] for r in self.lines if r["line_type"] == "usage")

    @property
    def amount_centavos(self) -> int:
        return sum(r["amount_centavos"] for r in self.lines)


def run(settings: Settings, session: SparkSession, request: BillingRequest) -> BillingResult:
    cfg = settings.billing
    with track_run(settings.runs_file, "notifications.billing", settings.engine) as rec:
        start, end = transforms.day_window(*day_bounds(request.day, cfg.timezone))
        with step(f"Counting {request.day.isoformat()} ({cfg.timezone}) in gold"):
            counts = {
                _key(r): (r["customer_name"], int(r["notifications"]))
                for r in transforms.gold_counts(io.read_gold(settings, session), start, end)
                .toArrow()
                .to_pylist()
            }
        with step("Reconciling with silver's distinct message_ids"):
            distinct = {
                _key(r): int(r["notifications"])
                for r in transforms.silver_distinct_counts(
                    io.read_silver(settings, session), start, end
                )
                .toArrow()
                .to_pylist()
            }
            reconcile(counts, distinct)
        rec.inputs["gold_lines"] = len(counts)
        rec.inputs["silver_messages"] = sum(distinct.values())
        existing = io.read_bills_from(settings, session, request.day)
        broken = ledger.broken_seals(existing)
        if broken:
            raise QualityError(
                f"{io.bills_path(settings)}: {len(broken)} final line(s) no longer match "
                f"their content hash (first: billing_date {broken[0]['billing_date']}, "
                f"customer_id {broken[0]['customer_id']}); nothing written"
            )
        plan = ledger.plan_day(request.day, request.now, counts, existing, cfg)
        if plan.partitions:
            with step(f"Writing the bill ({plan.status})"):
                io.write_partitions(session, settings, plan.partitions)
        rec.outputs["bill_lines"] = sum(len(v) for v in plan.partitions.values())
        bills = {
            request.day: [r for r in existing if r["billing_date"] == request.day],
            **plan.partitions,
        }  # each day's bill as it now stands
        folder = request.out or io.reports_dir(settings)
        written = []
        for day in sorted(bills):
            written += io.write_bill_files(bills[day], day, folder)
        lines = bills[request.day]
    return BillingResult(request.day, plan.status, lines, plan.adjustments, written)


def _key(row: dict[str, Any]) -> tuple[int, str]:
    return int(row["customer_id"]), row["channel"]


def reconcile(
    counts: dict[tuple[int, str], tuple[str, int]], distinct: dict[tuple[int, str], int]
) -> None:
    """Every line's count must equal silver's distinct message_ids for its customer and
    channel (and no silver key may be missing from the bill); else nothing is written."""
    keys = set(counts) | set(distinct)
    wrong = sorted(k for k in keys if counts.get(k, ("", 0))[1] != distinct.get(k, 0))
    if wrong:
        cid, channel = wrong[0]
        raise QualityError(
            f"reconciliation failed: {len(wrong)} line(s) of gold differ from silver's "
            f"distinct message_ids (first: customer_id {cid}, channel {channel}: gold "
            f"{counts.get(wrong[0], ('', 0))[1]}, silver {distinct.get(wrong[0], 0)}); "
            "nothing written"
        )
