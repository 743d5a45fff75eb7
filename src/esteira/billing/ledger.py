"""Draft, final and adjustment lines of a billing day (pure Python on small rows).

A day's bill is a draft until `grace` after the day ends; a rerun replaces the draft.
Past the grace it is sealed final (a content hash per line) and never changed: a later
run that counts differently for a final day writes an adjustment line, with the reason,
on the next open bill (the first later day still in its grace), so the day's total
billed (usage + final adjustments) converges to what is counted, once.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from esteira.billing.config import BillingSettings
from esteira.billing.pricing import amount, price_in_force
from esteira.billing.render import day_bounds

Key = tuple[int, str]  # customer_id, channel
Counts = dict[Key, tuple[str, int]]  # -> customer_name, notifications
SEALED = (
    "billing_date",
    "customer_id",
    "customer_name",
    "channel",
    "line_type",
    "adjusted_date",
    "notifications",
    "price_mode",
    "unit_price",
    "amount_centavos",
    "status",
    "reason",
)


@dataclass
class Plan:
    """What a run writes: the full new content of each billing_date partition it replaces
    (empty when nothing changes), and what it found."""

    day: date
    status: str  # draft | final | adjusted | unchanged
    partitions: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    adjustments: list[dict[str, Any]] = field(default_factory=list)


def final_after(day: date, cfg: BillingSettings) -> datetime:
    return day_bounds(day, cfg.timezone)[1] + timedelta(hours=cfg.grace_hours)


def next_open_day(day: date, now: datetime, cfg: BillingSettings) -> date:
    """The first day after `day` whose bill is still a draft at `now`."""
    candidate = day + timedelta(days=1)
    while final_after(candidate, cfg) <= now:
        candidate += timedelta(days=1)
    return candidate


def content_hash(row: dict[str, Any]) -> str:
    """sha256 of a line's content (not of when it was written)."""
    canonical = {k: (str(row[k]) if row.get(k) is not None else None) for k in SEALED}
    if row.get("unit_price") is not None:
        canonical["unit_price"] = format(Decimal(str(row["unit_price"])).normalize(), "f")
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def broken_seals(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Final lines whose content no longer matches their hash (changed by hand)."""
    return [r for r in rows if r["status"] == "final" and r["content_hash"] != content_hash(r)]


def _line(
    day: date,
    key: Key,
    name: str,
    n: int,
    cents: int,
    unit: Decimal,
    mode: str,
    now: datetime,
    cfg: BillingSettings,
    adjusted: date | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "billing_date": day,
        "customer_id": key[0],
        "customer_name": name,
        "channel": key[1],
        "line_type": "usage" if adjusted is None else "adjustment",
        "adjusted_date": adjusted,
        "notifications": n,
        "price_mode": mode,
        "unit_price": unit,
        "amount_centavos": cents,
        "status": "draft",
        "reason": reason,
        "content_hash": None,
        "computed_at": now,
        "final_after": final_after(day, cfg),
    }


def _seal(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    sealed = {**row, "status": "final", "computed_at": now}
    sealed["content_hash"] = content_hash(sealed)
    return sealed


def plan_day(
    day: date, now: datetime, counts: Counts, existing: list[dict[str, Any]], cfg: BillingSettings
) -> Plan:
    """The run's writes for `day`, given its reconciled counts and the bills table's rows
    of `day`, of the next open day and of adjustments of `day`."""
    usage = [r for r in existing if r["billing_date"] == day and r["line_type"] == "usage"]
    if any(r["status"] == "final" for r in usage):
        return _adjust(day, now, counts, existing, usage, cfg)
    final = now >= final_after(day, cfg)
    lines = []
    for key, (name, n) in sorted(counts.items()):
        price = price_in_force(cfg.prices, key[1], day)
        cost = amount(price, n)
        lines.append(_line(day, key, name, n, cost.centavos, cost.unit_price, cost.mode, now, cfg))
    carried = [r for r in existing if r["billing_date"] == day and r["line_type"] != "usage"]
    rows = lines + carried
    if final:
        rows = [_seal(r, now) for r in rows]
    return Plan(day, "final" if final else "draft", {day: rows})


def _adjust(
    day: date,
    now: datetime,
    counts: Counts,
    existing: list[dict[str, Any]],
    usage: list[dict[str, Any]],
    cfg: BillingSettings,
) -> Plan:
    """A final day counted again: differences go to the next open bill."""
    target = next_open_day(day, now, cfg)
    adjustments = [
        r for r in existing if r["line_type"] == "adjustment" and r["adjusted_date"] == day
    ]
    billed: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    names: dict[Key, str] = {}
    for r in usage + [a for a in adjustments if a["status"] == "final"]:
        key = (int(r["customer_id"]), r["channel"])
        billed[key][0] += int(r["notifications"])
        billed[key][1] += int(r["amount_centavos"])
        names[key] = r["customer_name"]
    new_lines = []
    for key in sorted(set(billed) | set(counts)):
        name, n = counts.get(key, (names.get(key, ""), 0))
        cost = amount(price_in_force(cfg.prices, key[1], day), n)
        was_n, was_cents = billed[key]
        if n == was_n and cost.centavos == was_cents:
            continue
        why = "late messages" if n > was_n else "fewer messages"
        reason = (
            f"{why} after the bill of {day.isoformat()} became final: billed {was_n}, counted {n}"
        )
        new_lines.append(
            _line(
                target,
                key,
                name,
                n - was_n,
                cost.centavos - was_cents,
                cost.unit_price,
                cost.mode,
                now,
                cfg,
                adjusted=day,
                reason=reason,
            )
        )
    drafts = [a for a in adjustments if a["status"] == "draft"]
    if _same(new_lines) == _same(drafts):  # a rerun that finds what is already billed
        return Plan(day, "unchanged")
    touched = {target} | {a["billing_date"] for a in drafts}
    partitions = {}
    for partition in sorted(touched):
        kept = [
            r
            for r in existing
            if r["billing_date"] == partition
            and not (
                r["line_type"] == "adjustment"
                and r["adjusted_date"] == day
                and r["status"] == "draft"
            )
        ]
        partitions[partition] = kept + [r for r in new_lines if r["billing_date"] == partition]
    return Plan(day, "adjusted" if new_lines else "unchanged", partitions, new_lines)


def _same(lines: list[dict[str, Any]]) -> set[tuple]:
    return {
        (
            r["billing_date"],
            int(r["customer_id"]),
            r["channel"],
            int(r["notifications"]),
            int(r["amount_centavos"]),
        )
        for r in lines
    }
