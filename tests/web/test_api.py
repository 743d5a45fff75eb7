"""The dashboard's JSON API and pages on Delta tables written by delta-rs (no JVM): the
counts are checked against sums of the fixture's message list made here, in Python."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from canaries import CPF, EMAIL, NAME, PHONE, SENTENCE, assert_no_canary
from esteira.settings import Settings, load_settings
from esteira.web.app import create_app

from .server import free_port, serving
from .tables import Msg, day, utc, write_bills, write_stream_tables

ZONE = ZoneInfo("America/Sao_Paulo")
ACME, GLOBEX = 7494212, 1001
DAY = "2020-02-03"


def _messages() -> list[Msg]:
    start = utc("2020-02-03T14:00:00+00:00")
    msgs = [Msg(f"A{i:04d}", ACME, "Acme", "Whatsapp", start + timedelta(seconds=3 * i))
            for i in range(1200)]  # 14:00-14:59, 20 a minute
    msgs += [Msg(f"S{i}", ACME, "Acme", "SMS", utc("2020-02-03T15:00:10+00:00")) for i in range(3)]
    # 23:30 and 00:00 local: the first is still 03/02, the second is 04/02 (the newest minute)
    msgs += [Msg(f"N{i}", ACME, "Acme", "Whatsapp", utc("2020-02-04T02:30:00+00:00"))
             for i in range(2)]
    msgs += [Msg("M0", ACME, "Acme", "Whatsapp", utc("2020-02-04T03:00:00+00:00"))]
    # 23:59 local on 02/02, then 15:10 local on 03/02
    msgs += [Msg(f"G{i}", GLOBEX, "Globex", "Whatsapp", utc("2020-02-03T02:59:30+00:00"))
             for i in range(4)]
    msgs += [Msg(f"H{i}", GLOBEX, "Globex", "Whatsapp", utc("2020-02-03T18:10:00+00:00"))
             for i in range(7)]
    for c in range(1, 61):  # enough customers for two pages of 50
        msgs += [Msg(f"C{c}-{i}", 5000 + c, f"Cliente {c:03d}", "Whatsapp",
                     utc("2020-02-03T12:00:00+00:00") + timedelta(minutes=c))
                 for i in range(c % 5 + 1)]
    return msgs


MESSAGES = _messages()


def _local_day(m: Msg) -> str:
    return m.at.astimezone(ZONE).date().isoformat()


def _expected_day(day_text: str) -> dict[int, dict]:
    """Per customer: the day's count per channel, and the newest minute (any day)."""
    per: dict[int, dict] = defaultdict(lambda: {"channels": Counter(), "minutes": Counter()})
    for m in MESSAGES:
        row = per[m.customer_id]
        row["minutes"][m.at.replace(second=0)] += 1
        if _local_day(m) == day_text:
            row["channels"][m.channel] += 1
    out = {}
    for cid, row in per.items():
        newest = max(row["minutes"])
        out[cid] = {"channels": dict(row["channels"]), "total": sum(row["channels"].values()),
                    "last_minute": newest.isoformat(), "last_count": row["minutes"][newest]}
    return out


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    root = tmp_path_factory.mktemp("dashboard")
    write_stream_tables(root / "notifications", MESSAGES, datetime(2020, 2, 4, 3, 1, tzinfo=UTC))
    write_bills(root / "billing" / "bills", [
        {"billing_date": day(DAY), "customer_id": ACME, "customer_name": "Acme",
         "channel": "Whatsapp", "line_type": "usage", "notifications": 25000,
         "price_mode": "flat", "unit_price": Decimal("0.04"), "amount_centavos": 100000,
         "status": "final", "content_hash": "ab" * 32},
        {"billing_date": day("2020-02-04"), "customer_id": ACME, "customer_name": "Acme",
         "channel": "Whatsapp", "line_type": "usage", "notifications": 1,
         "price_mode": "flat", "unit_price": Decimal("0.04"), "amount_centavos": 4,
         "status": "draft"},
    ])
    settings = load_settings(notifications={"root": str(root / "notifications")},
                             billing={"root": str(root / "billing")},
                             web={"table_refresh_seconds": 0})
    with serving(create_app(settings)) as url:
        yield url, settings


def _get(url: str, path: str, **params) -> httpx.Response:
    return httpx.get(url + path, params=params, timeout=30)


def test_home_api_counts_each_customers_day_per_channel_and_newest_minute(dashboard) -> None:
    url, _ = dashboard
    body = _get(url, "/api/customers", day=DAY, size=1000).json()
    expected = _expected_day(DAY)
    assert body["total_customers"] == len(expected) == 62
    assert body["channels"] == ["SMS", "Whatsapp"]
    got = {r["customer_id"]: {"channels": {c: n for c, n in r["channels"].items() if n},
                              "total": r["notifications"], "last_minute": r["last_minute"],
                              "last_count": r["last_minute_notifications"]}
           for r in body["customers"]}
    assert got == expected
    assert got[ACME] == {"channels": {"Whatsapp": 1202, "SMS": 3}, "total": 1205,
                         "last_minute": "2020-02-04T03:00:00+00:00", "last_count": 1}
    assert got[GLOBEX]["total"] == 7  # the 4 at 23:59 local belong to 02/02


def test_home_api_sorts_searches_and_pages(dashboard) -> None:
    url, _ = dashboard
    by_count = _get(url, "/api/customers", day=DAY, size=3).json()["customers"]
    expected = sorted(_expected_day(DAY).items(), key=lambda kv: -kv[1]["total"])
    assert [r["customer_id"] for r in by_count][:2] == [ACME, GLOBEX]
    assert [r["notifications"] for r in by_count] == [e["total"] for _, e in expected[:3]]
    by_name = _get(url, "/api/customers", day=DAY, sort="customer_name", order="asc").json()
    assert by_name["customers"][0]["customer_name"] == "Acme"
    assert [r["customer_name"] for r in by_name["customers"][1:4]] == [
        "Cliente 001", "Cliente 002", "Cliente 003"]
    found = _get(url, "/api/customers", day=DAY, q="GLOB").json()
    assert [r["customer_id"] for r in found["customers"]] == [GLOBEX]
    assert _get(url, "/api/customers", day=DAY, q="cliente 00").json()["total_customers"] == 9
    second = _get(url, "/api/customers", day=DAY, page=2).json()
    assert (second["pages"], second["size"], len(second["customers"])) == (2, 50, 12)


def test_without_a_day_the_home_shows_the_newest_day_with_counts(dashboard) -> None:
    url, _ = dashboard
    body = _get(url, "/api/customers").json()
    assert body["day"] == "2020-02-04"  # today (2026) has none; Acme's 00:00 local is newest
    assert {r["customer_id"]: r["notifications"] for r in body["customers"]
            if r["notifications"]} == {ACME: 1}


def test_a_customers_minutes_and_totals_of_a_day(dashboard) -> None:
    url, _ = dashboard
    series = _get(url, f"/api/customers/{ACME}/minutes", day=DAY).json()
    per_minute: Counter[tuple[str, str]] = Counter(
        (m.at.replace(second=0).isoformat(), m.channel) for m in MESSAGES
        if m.customer_id == ACME and _local_day(m) == DAY)
    got = {(minute, ch): n for ch, values in series["series"].items()
           for minute, n in zip(series["minutes"], values, strict=True) if n}
    assert got == dict(per_minute)
    assert series["totals"] == {"SMS": 3, "Whatsapp": 1202}
    info = _get(url, f"/api/customers/{ACME}", day=DAY).json()
    assert (info["customer_name"], info["totals"]) == ("Acme", {"SMS": 3, "Whatsapp": 1202})
    assert _get(url, f"/api/customers/{ACME}").json()["day"] == "2020-02-04"
    assert _get(url, "/api/customers/999/minutes", day=DAY).status_code == 404
    assert _get(url, "/api/customers", day="03/02/2020").status_code == 422


def test_the_days_report_downloads_in_the_seeds_layout(dashboard) -> None:
    url, _ = dashboard
    response = _get(url, f"/customers/{GLOBEX}/report", day=DAY, format="txt")
    assert response.status_code == 200
    assert 'filename="relatorio_1001_2020-02-03.txt"' in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0] == "= Cliente: Globex ="
    ids = [line.removeprefix("Mensagem ID: ") for line in lines if line.startswith("Mensagem ID")]
    assert ids == [f"H{i}" for i in range(7)]  # not the 4 of 02/02 local; by time, then id
    assert lines[2] == "Payload: “Olá XXXXX, seja muito bem-vindo!”"
    assert lines[3] == "Data hora: 2020-02-03T18:10:00.000+00:00"
    csv_lines = _get(url, f"/customers/{ACME}/report", day=DAY, format="csv").text.splitlines()
    assert len(csv_lines) == 1 + 1205
    assert _get(url, "/customers/999/report", day=DAY).status_code == 404


def test_bills_come_from_the_billing_table(dashboard) -> None:
    url, _ = dashboard
    bill = _get(url, f"/customers/{ACME}/bill", day=DAY, format="txt")
    assert bill.status_code == 200
    for line in ("Relatório de Cobrança", "Cliente: Acme", "Notificações Whatsapp: 25000",
                 "Valor: R$ 1.000,00", "Data: 2020-02-03"):
        assert line in bill.text.splitlines()
    lines = _get(url, f"/api/customers/{ACME}/bills").json()
    assert [(b["billing_date"], b["amount"], b["status"]) for b in lines] == [
        ("2020-02-04", "0.04", "draft"), ("2020-02-03", "1000.00", "final")]
    assert _get(url, f"/customers/{GLOBEX}/bill", day=DAY).status_code == 404
    page = _get(url, f"/customers/{ACME}", day=DAY).text
    assert "R$\xa01.000,00" in page and "03/02/2020" in page and "rascunho" in page


def test_pages_use_brazilian_formats_and_the_api_is_documented(dashboard) -> None:
    url, _ = dashboard
    home = _get(url, "/", day=DAY).text
    assert "1.205" in home and "04/02/2020 00:00" in home  # Acme: total, newest minute (local)
    assert "/partials/customers" in home and "every 5s" in home
    assert "/vendor/htmx.org/dist/htmx.min.js" in home
    assert _get(url, "/vendor/htmx.org/dist/htmx.min.js").status_code == 200
    paths = _get(url, "/openapi.json").json()["paths"]
    assert {"/api/customers", "/api/customers/{customer_id}",
            "/api/customers/{customer_id}/minutes",
            "/api/customers/{customer_id}/bills"} <= set(paths)
    assert _get(url, "/docs").status_code == 200


def test_a_new_version_of_the_rollup_shows_without_restarting(tmp_path: Path) -> None:
    root = tmp_path / "notifications"
    first = [Msg("A", ACME, "Acme", "Whatsapp", utc("2020-02-03T14:00:00+00:00"))]
    write_stream_tables(root, first, datetime.now(UTC))
    settings = load_settings(notifications={"root": str(root)},
                             billing={"root": str(tmp_path / "billing")},
                             web={"table_refresh_seconds": 0})
    with serving(create_app(settings)) as url:
        before = _get(url, "/api/customers", day=DAY).json()
        more = first + [Msg("B", ACME, "Acme", "Whatsapp", utc("2020-02-03T14:05:00+00:00"))]
        write_stream_tables(root, more, datetime.now(UTC))
        after = _get(url, "/api/customers", day=DAY).json()
    assert (before["customers"][0]["notifications"], after["customers"][0]["notifications"]) == (
        1, 2)
    assert after["version"] == before["version"] + 1


def test_esteira_serve_listens_on_loopback_and_logs_no_personal_data(tmp_path: Path) -> None:
    """The real command: empty panel before any table, then a report that carries
    payloads by design, while nothing it prints holds a payload or a person's name."""
    port = free_port()
    env = {**os.environ, "ESTEIRA_HOME": str(tmp_path),
           "ESTEIRA_NOTIFICATIONS__ROOT": str(tmp_path / "n")}
    proc = subprocess.Popen([sys.executable, "-m", "esteira.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                body = httpx.get(f"{url}/api/customers", timeout=5).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.2)
        assert body["total_customers"] == 0  # no tables yet: an empty panel, not an error
        payload = f"{SENTENCE} {CPF} {EMAIL} {PHONE}"
        write_stream_tables(tmp_path / "n", [
            Msg("P1", 77, NAME, "Whatsapp", utc("2020-02-03T14:00:00+00:00"), payload)],
            datetime.now(UTC))
        time.sleep(1.2)  # web.table_refresh_seconds
        assert _get(url, "/api/customers", q=NAME).json()["total_customers"] == 1
        assert payload in _get(url, "/customers/77/report", day=DAY).text  # by design
        for path, params in [("/", {"q": NAME}), ("/customers/77", {"day": DAY}),
                             ("/customers/77/bill", {"day": DAY}),
                             ("/api/customers", {"day": CPF}), ("/customers/78", {})]:
            _get(url, path, **params)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in err
    assert_no_canary(out + err, "esteira serve's output")
