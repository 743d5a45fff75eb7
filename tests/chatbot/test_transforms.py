"""The answer rules on tiny inline events, on both engines."""

from __future__ import annotations

import json

from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from esteira.chatbot import transforms
from esteira.quality import flag_failures, passed_rows, rejected_rows


def _event(session: str, ts: str, content: dict[str, str | None], flow: str = "F") -> str:
    return json.dumps(
        {"customer": "C", "flow": flow, "session": session, "timestamp": ts, "content": content}
    )


def _per_session(spark: SparkSession, records: list[str]):
    raw = spark.createDataFrame([("f", r) for r in records], "source string, record string")
    rules = transforms.event_rules()
    flagged = flag_failures(transforms.parse_events(raw), rules)
    valid = passed_rows(flagged, rules)
    return transforms.session_answers(transforms.valid_answers(valid)), rejected_rows(
        flagged, rules
    )


def test_latest_value_wins_and_blank_answers_do_not_count(spark):
    per_session, _ = _per_session(
        spark,
        [
            _event("S", "2019-12-16T13:59:57+00:00", {"name": "", "cpf": None}),
            _event("S", "2019-12-16T10:59:58-03:00", {"cpf": "ZZZ", "name": "ana"}),
            _event("S", "2019-12-16T14:00:01Z", {"cpf": "111"}),
            _event("S", "2019-12-16T14:00:09Z", {"name": "  "}),
        ],
    )
    table = transforms.flow_table(per_session, "F", ["name", "cpf"])
    expected = spark.createDataFrame(
        [("C", "F", "S", "2019-12-16T13:59:58", "2019-12-16T14:00:01", "ana", "111")],
        "customer string, flow string, session string, first_answer_dt string, "
        "last_answer_dt string, name string, cpf string",
    )
    assertDataFrameEqual(table, expected)


def test_key_order_is_first_appearance_then_place_in_the_event(spark):
    per_session, _ = _per_session(
        spark,
        [
            _event("S1", "2019-12-16T14:00:00Z", {"b": "1", "a": "2"}),
            _event("S2", "2019-12-16T13:00:00Z", {"z": "x", "y": ""}),
            _event("S1", "2019-12-16T12:00:00Z", {"y": "1"}, flow="G"),
        ],
    )
    order = transforms.key_order(per_session).orderBy("flow", "first_at", "first_pos").collect()
    assert [(r["flow"], r["key"]) for r in order] == [
        ("F", "z"),
        ("F", "b"),
        ("F", "a"),
        ("G", "y"),
    ]


def test_unusable_events_carry_their_reason(spark):
    _, rejects = _per_session(
        spark,
        [
            "not json",
            '{"customer": "C", "flow": "F", "session": "S", "timestamp": "2019-12-16 14:00"',
            json.dumps({"customer": "C", "session": "S", "timestamp": "2019-12-16T14:00:00Z"}),
            json.dumps({"customer": "C", "flow": "F", "session": "S", "timestamp": "ontem"}),
            _event("S", "2019-12-16T14:00:00Z", {"ok": "1"}),
        ],
    )
    assert sorted(r["regra"] for r in rejects.collect()) == [
        "flow is missing",
        "not a valid JSON object",
        "not a valid JSON object",
        "timestamp is not ISO 8601 with an offset",
    ]


def test_answer_columns_stay_usable_in_delta():
    assert transforms.answer_columns(["name", "session", "nota final", "nota_final"]) == [
        "name",
        "answer_session",
        "nota_final",
        "nota_final_2",
    ]
