"""`esteira notifications ...` through the CLI: the generator on a real broker, and the
stream refusing an engine that has no Kafka source."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from esteira import cli
from esteira.connectors import kafka as kafka_io
from esteira.connectors import kafka_topics
from esteira.notifications.schemas import FIELDS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def esteira(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("ESTEIRA_HOME", str(REPO / ".esteira"))

    def invoke(*args: str, **knobs: str) -> tuple[int, str, str]:
        for key, value in knobs.items():
            monkeypatch.setenv(f"ESTEIRA_NOTIFICATIONS__{key.upper()}", value)
        capsys.readouterr()
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_stream_on_sail_stops_at_once_with_a_clear_message(esteira) -> None:
    code, out, err = esteira("--engine", "sail", "notifications", "stream")
    assert code == 2 and out == ""  # an error is not a result: stderr only
    assert "JVM engine only" in err and "--engine spark" in err
    assert "Traceback" not in err


def test_produce_refuses_bad_options(esteira) -> None:
    code, _, text = esteira("notifications", "produce", "--duplicates", "1.5")
    assert code == 2 and "--duplicates" in text
    code, _, text = esteira("notifications", "produce", "--duration", "soon")
    assert code == 2 and "--duration" in text
    code, _, text = esteira("notifications", "produce", "--start", "ontem")
    assert code == 2 and "--start" in text
    code, _, text = esteira("notifications", "produce", "--rate", "muito")
    assert code == 2 and "--rate" in text


def test_produce_sends_what_it_reports_to_a_log_append_time_topic(
    esteira, kafka_bootstrap: str, kafka_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = kafka_topic(create=False)  # the command creates it
    expected = tmp_path / "expected.json"
    code, out, err = esteira(
        "notifications", "produce", "--rate", "500/s", "--duration", "2s", "--customers", "5",
        "--start", "2020-02-03T14:00", "--duplicates", "0.1", "--bad", "0.1",
        "--expected", str(expected), topic=topic, partitions="3",
    )
    assert code == 0, out + err
    assert "registros enviados" in out and "1.000" in out  # the result, on stdout
    assert "registros enviados" not in err
    assert kafka_topics.describe_partitions(kafka_bootstrap, topic) == 3
    assert kafka_topics.topic_config(kafka_bootstrap, topic)["message.timestamp.type"] == \
        "LogAppendTime"
    tally = json.loads(expected.read_text())
    records = kafka_io.consume(kafka_bootstrap, topic, 1000, timeout=60)
    assert len(records) == tally["sent"] == 1000
    assert all(r.log_append_time for r in records)
    countable = set()
    for r in records:
        try:
            msg = json.loads(r.value)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(msg, dict) and set(msg) == set(FIELDS) \
                and type(msg["customer_id"]) is int and isinstance(msg["event_datetime"], str):
            countable.add(msg["message_id"])
    assert len(countable) == tally["expected_total"]
    assert tally["kinds"]["duplicate"] > 0


def test_usage_prints_the_panel_per_customer_from_gold(
    spark, run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime

    gold = spark.createDataFrame(
        [(7494212, "Acme", "Whatsapp", datetime(2020, 2, 3, 14, 0), 3000,
          datetime(2020, 2, 3, 14, 1, 5)),
         (7494212, "Acme", "Whatsapp", datetime(2020, 2, 3, 14, 1), 2000,
          datetime(2020, 2, 3, 15, 0)),
         (1109031, "Lojas Paulista", "SMS", datetime(2020, 2, 3, 14, 0), 7,
          datetime(2020, 2, 3, 14, 0, 30))],
        "customer_id long, customer_name string, channel string, minute timestamp, "
        "notifications long, updated_at timestamp",
    )
    gold.write.format("delta").save(str(tmp_path / "gold"))
    monkeypatch.setenv("ESTEIRA_NOTIFICATIONS__ROOT", str(tmp_path))
    code, out, err = run_cli("notifications", "usage")
    assert code == 0, out + err
    assert "Acme" in out and "5.000" in out and "03/02/2020 15:00:00" in out  # stdout
    assert out.index("Acme") < out.index("Lojas Paulista")
    monkeypatch.setenv("ESTEIRA_NOTIFICATIONS__ROOT", str(tmp_path / "nada"))
    code, out, err = run_cli("notifications", "usage")
    assert code == 2 and "no gold table yet" in out + err
