"""The dashboard in a real browser (Debian's chromium, driven by Playwright through
`executable_path`; Playwright downloads no browser of its own), on tables written by the
real stream code: the micro-batch body the stream runs (JVM engine), fed Kafka-shaped
records. More messages go through the same code while the page is open, and the home
page shows the new count without a reload. Screenshots go to the test's tmp folder."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from esteira.notifications import io, transforms
from esteira.notifications.micro_batch import MicroBatch
from esteira.settings import load_settings
from esteira.web.app import create_app

from .server import serving

KAFKA = "key binary, value binary, topic string, partition int, offset long, " \
        "timestamp timestamp, timestampType int"
CUSTOMERS = {7494212: "Acme", 1001: "Globex", 42: "Initech"}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _records(spark: SparkSession, messages: list[tuple[int, str, str]], offset: int) -> DataFrame:
    """(customer_id, message_id, event time) -> one micro-batch, as the stream sees it."""
    rows = [(b"k", json.dumps({"customer_id": cid, "message_id": mid,
                               "customer_name": CUSTOMERS[cid], "channel": "Whatsapp",
                               "payload": "Olá XXXXX!", "event_datetime": at}).encode(),
             "t", 0, offset + i, datetime(2026, 1, 1), 1)
            for i, (cid, mid, at) in enumerate(messages)]
    kafka = transforms.bronze_rows(spark.createDataFrame(rows, KAFKA), datetime(2026, 1, 1))
    return transforms.first_deliveries(transforms.parse_messages(kafka), timedelta(hours=24))


def _messages(cid: int, n: int, first: int, start: str) -> list[tuple[int, str, str]]:
    t0 = datetime.fromisoformat(start)
    return [(cid, f"{cid}-{first + i}", (t0 + timedelta(seconds=5 * i)).isoformat())
            for i in range(n)]


def _rows(page) -> dict[int, tuple[str, str]]:
    """customer_id -> (name, the day's total as printed) from the home page's table."""
    out = {}
    for tr in page.locator("#customers-table tbody tr[data-customer-id]").all():
        name = tr.locator("td.name a").inner_text()
        out[int(tr.get_attribute("data-customer-id"))] = (name, tr.locator("td.total").inner_text())
    return out


def test_the_panel_in_a_browser_follows_the_stream_without_a_reload(
    engine: str, spark: SparkSession, tmp_path: Path
) -> None:
    if engine != "spark":
        pytest.skip("the stream's micro-batch writes gold and the rollup with delta-spark (JVM)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    settings = load_settings(engine="spark", notifications={"root": str(tmp_path / "n")},
                             billing={"root": str(tmp_path / "b")},
                             web={"refresh_seconds": 1, "table_refresh_seconds": 0})
    t = io.tables(settings.notifications, settings.home)
    body = MicroBatch(settings, t, t.app_id())
    sent = (_messages(7494212, 30, 0, "2020-02-03T14:00:00+00:00")
            + _messages(1001, 12, 0, "2020-02-03T15:30:00+00:00")
            + _messages(42, 5, 0, "2020-02-03T16:00:00+00:00"))
    body(_records(spark, sent, 0), 0)
    expected = Counter(cid for cid, _, _ in sent)  # counted here, from what was sent
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with serving(create_app(settings)) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="pt-BR")
        page.goto(f"{url}/?day=2020-02-03")
        assert _rows(page) == {cid: (CUSTOMERS[cid], str(n)) for cid, n in expected.items()}
        ids = [int(x) for x in page.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.customerId)")]
        assert ids == [7494212, 1001, 42]  # by the day's count, largest first
        page.fill("#q", "glob")
        page.wait_for_function("document.querySelectorAll('tbody tr[data-customer-id]')"
                               ".length === 1")
        assert list(_rows(page)) == [1001]
        page.fill("#q", "")
        page.wait_for_function("document.querySelectorAll('tbody tr[data-customer-id]')"
                               ".length === 3")
        page.screenshot(path=str(shots / "home.png"), full_page=True)

        page.click("a[href^='/customers/7494212']")
        page.wait_for_selector("#chart canvas")
        assert page.get_attribute("#chart", "data-points") == "3"  # 30 msgs, 5 s apart
        assert page.inner_text("#day-total") == "30"
        assert page.inner_text("tr[data-channel='Whatsapp'] td.num") == "30"
        assert page.locator("#downloads a[href*='/report?day=2020-02-03&format=txt']").count() == 1
        assert page.locator("#downloads a[href*='/bill?day=2020-02-03']").count() == 2
        page.screenshot(path=str(shots / "customer.png"), full_page=True)

        page.go_back()
        page.wait_for_selector("tr[data-customer-id='7494212']")
        page.evaluate("window.__not_reloaded = true")
        more = _messages(7494212, 1190, 30, "2020-02-03T14:02:30+00:00")
        body(_records(spark, more, len(sent)), 1)  # the stream's next micro-batch
        page.wait_for_function(
            "document.querySelector(\"tr[data-customer-id='7494212'] td.total\")"
            ".innerText === '1.220'", timeout=30_000)
        assert page.evaluate("window.__not_reloaded") is True
        page.screenshot(path=str(shots / "home_after.png"), full_page=True)
        browser.close()
    assert all((shots / f).stat().st_size > 0 for f in ("home.png", "customer.png",
                                                         "home_after.png"))
