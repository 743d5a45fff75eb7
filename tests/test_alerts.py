"""Alerts reach a real webhook (http.server on loopback) with names and counts only."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from canaries import CPF, assert_no_canary
from esteira import alerts, streaming
from esteira.alerts import AlertSettings
from esteira.errors import InputError
from esteira.quality import Expectation, QualityReport
from esteira.runlog import read_runs, track_run
from webhook_server import Webhook, webhook  # noqa: F401 - the fixture


def _to(hook: Webhook, **fields: object) -> None:
    alerts.configure(AlertSettings(webhook_url=hook.url, **fields))


def test_an_alert_is_one_json_post_with_the_secret_headers(webhook: Webhook):  # noqa: F811
    _to(webhook, secret_headers={"Authorization": SecretStr("Bearer s3cr3t")})
    assert alerts.send("run_failed", "portfolio.assign failed: x", pipeline="portfolio.assign")
    [hit] = webhook.received
    assert hit["path"] == "/hooks/esteira"
    assert hit["headers"]["Authorization"] == "Bearer s3cr3t"
    assert hit["headers"]["Content-Type"] == "application/json"
    body = hit["body"]
    assert body["kind"] == "run_failed" and body["pipeline"] == "portfolio.assign"
    assert body["text"] == "esteira: portfolio.assign failed: x"  # what Slack/Teams show
    assert body["app"] == "esteira" and body["host"] == socket.gethostname()


def test_no_webhook_sends_nothing_and_a_dead_one_costs_only_a_warning(caplog):
    alerts.configure(AlertSettings())
    assert alerts.send("run_failed", "x") is False
    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    alerts.configure(AlertSettings(webhook_url=f"http://127.0.0.1:{port}/t0ken", attempts=1))
    try:
        with caplog.at_level("WARNING", logger="esteira.alerts"):
            assert alerts.send("run_failed", "x") is False
        assert "not delivered" in caplog.text and "t0ken" not in caplog.text
    finally:
        alerts.configure(AlertSettings())


def test_a_failed_run_alerts_with_its_error_line_never_the_data(webhook: Webhook, tmp_path):  # noqa: F811
    _to(webhook)
    runs = tmp_path / "runs.jsonl"
    with pytest.raises(ValueError), track_run(runs, "chatbot.answers", "sail"):
        raise ValueError(f"row with cpf {CPF}")  # an engine error may quote a row
    with pytest.raises(InputError), track_run(runs, "invoices.averages", "sail"):
        raise InputError("faturas.csv", "missing column valor")
    first, second = webhook.bodies("run_failed")
    [run1, run2] = read_runs(runs)
    assert (first["pipeline"], first["error"], first["run_id"]) == (
        "chatbot.answers", "ValueError", run1["run_id"])
    assert second["error"] == "faturas.csv: missing column valor"
    assert second["run_id"] == run2["run_id"] and second["engine"] == "sail"
    assert_no_canary(" ".join(h["raw"] for h in webhook.received), "alerts")


def test_a_run_that_succeeds_sends_nothing(webhook: Webhook, tmp_path):  # noqa: F811
    _to(webhook)
    with track_run(tmp_path / "runs.jsonl", "portfolio.assign", "sail"):
        pass
    assert webhook.received == []


def _report(rows: int, rejected: int) -> QualityReport:
    rule = Expectation("email_valido", "email like '%@%'", "drop")
    return QualityReport(rows, {rule.name: rejected}, [rule], rejected)


def test_a_rejected_share_over_its_threshold_alerts(webhook: Webhook, tmp_path):  # noqa: F811
    _to(webhook, max_rejected_share=0.05, rejected_share={"quarantine.build.sms": 0.5})
    with track_run(tmp_path / "runs.jsonl", "quarantine.build", "sail") as run:
        run.record_quality("email", _report(1000, 50))  # exactly 5%: not over
        run.record_quality("crm", _report(1000, 51))  # 5.1%: over the default
        run.record_quality("sms", _report(100, 40))  # 40% under its own 50%
    [body] = webhook.bodies("rejected_share")
    assert (body["source"], body["rows"], body["rejected"]) == ("crm", 1000, 51)
    assert body["share"] == pytest.approx(0.051) and body["threshold"] == 0.05
    assert body["pipeline"] == "quarantine.build" and "crm set aside 51 of 1000" in body["text"]
    assert webhook.bodies("run_failed") == []


def _progress(batch: int, behind: str | None) -> dict:
    metrics = {} if behind is None else {"maxOffsetsBehindLatest": behind}
    return {"batchId": batch, "numInputRows": 10,
            "sources": [{"description": "KafkaV2[Subscribe[t]]", "metrics": metrics}]}


def test_a_stream_that_falls_behind_alerts_once_until_it_caught_up(webhook: Webhook):  # noqa: F811
    _to(webhook, stream_max_offsets_behind=1000)
    watch = streaming._LagWatch("notifications stream", 1)
    for batch, behind in enumerate(["10", "1001", "5000", "999", None, "2000.0"]):
        watch.check(0, _progress(batch, behind))
    alerts_sent = webhook.bodies("stream_behind")
    assert [(b["batch_id"], b["offsets_behind"]) for b in alerts_sent] == [(1, 1001), (5, 2000)]
    assert alerts_sent[0]["threshold"] == 1000
    assert alerts_sent[0]["stream"] == "notifications stream"


def test_offsets_behind_reads_the_kafka_source_metrics():
    assert streaming.offsets_behind(_progress(0, "12")) == 12
    assert streaming.offsets_behind({"batchId": 0, "sources": []}) is None
    two = {"sources": [{"metrics": {"maxOffsetsBehindLatest": "3"}},
                       {"metrics": {"maxOffsetsBehindLatest": "7"}}]}
    assert streaming.offsets_behind(two) == 7


def test_settings_refuse_secret_headers_in_the_file(tmp_path, monkeypatch):
    from esteira.errors import ConfigError
    from esteira.settings import load_settings

    conf = tmp_path / "esteira.yaml"
    conf.write_text("alerts:\n  secret_headers: {Authorization: Bearer x}\n")
    monkeypatch.setenv("ESTEIRA_CONFIG", str(conf))
    with pytest.raises(ConfigError, match="alerts.secret_headers is a secret"):
        load_settings()
    monkeypatch.delenv("ESTEIRA_CONFIG")
    monkeypatch.setenv("ESTEIRA_ALERTS__SECRET_HEADERS", '{"X-Token": "abc"}')
    section = load_settings().alerts
    assert section.secret_headers["X-Token"].get_secret_value() == "abc"
    assert "abc" not in str(section.model_dump(mode="json"))
