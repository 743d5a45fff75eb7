"""The generator's bookkeeping: what it says it sent is what it sent."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from esteira.datagen.notifications import Generator, Spec, minute_of
from esteira.notifications.schemas import FIELDS

START = datetime(2020, 2, 3, 14, 0, tzinfo=UTC)


def _run(**kw) -> tuple[Generator, list[tuple[bytes, bytes, str]]]:
    spec = Spec(rate=200, duration=30, customers=20, start=START, **kw)
    gen = Generator(spec)
    return gen, list(gen.records())


def test_expected_counts_are_the_distinct_valid_message_ids() -> None:
    gen, records = _run(duplicates=0.05, late=0.02, bad=0.02, too_late=0.01)
    assert gen.tally.sent == len(records) == 6000
    kinds = Counter(kind for _, _, kind in records)
    assert kinds == gen.tally.kinds
    assert all(kinds[k] > 0 for k in ("duplicate", "late", "not_json", "missing_field",
                                      "wrong_type", "too_late"))
    countable: dict[str, tuple] = {}
    for _, value, kind in records:
        if kind in ("valid", "late", "duplicate"):
            msg = json.loads(value)
            countable[msg["message_id"]] = (msg["customer_id"], msg["customer_name"],
                                            msg["channel"], msg["event_datetime"])
    per_minute = Counter(
        (cid, name, ch, minute_of(datetime.fromisoformat(ts)))
        for cid, name, ch, ts in countable.values()
    )
    assert per_minute == gen.tally.per_minute
    assert gen.tally.expected_total == kinds["valid"] + kinds["late"]


def test_re_deliveries_are_exact_copies_and_keys_are_customer_ids() -> None:
    _, records = _run(duplicates=0.1, bad=0)
    first = {}
    for key, value, kind in records:
        msg = json.loads(value)
        assert key == str(msg["customer_id"]).encode()
        if kind == "duplicate":
            assert first[msg["message_id"]] == value
        else:
            assert msg["message_id"] not in first
            first[msg["message_id"]] = value


def test_sizes_are_skewed_and_payloads_portuguese() -> None:
    _, records = _run(duplicates=0, late=0, bad=0)
    sizes = Counter(json.loads(v)["customer_id"] for _, v, _ in records).most_common()
    assert sizes[0][0] == 7494212  # Acme, the seed's customer, is the largest
    assert sizes[0][1] > 5 * sizes[-1][1]
    texts = " ".join(json.loads(v)["payload"] for _, v, _ in records[:200])
    assert "Olá" in texts or "Não" in texts or "Seu" in texts


def test_broken_records_are_really_broken_and_too_late_is_old() -> None:
    _, records = _run(bad=0.05, too_late=0.02)
    for _, value, kind in records:
        if kind == "not_json":
            try:
                parsed = json.loads(value)
            except (ValueError, UnicodeDecodeError):
                continue
            raise AssertionError(f"valid JSON sent as not_json: {parsed!r}")
        if kind == "missing_field":
            assert set(json.loads(value)) < set(FIELDS)
        if kind == "wrong_type":
            msg = json.loads(value)
            assert not isinstance(msg["customer_id"], int) or isinstance(msg["customer_id"], bool) \
                or not isinstance(msg["event_datetime"], str)
        if kind == "too_late":
            ts = datetime.fromisoformat(json.loads(value)["event_datetime"])
            assert (START - ts).days >= 36
