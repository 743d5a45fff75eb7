"""The API extractor against a real local HTTP server that paginates (page numbers or a
cursor), throttles (429 + Retry-After), fails now and then (503) and returns an order
twice; a rerun fetches only what changed since the high-water mark."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from esteira import cli
from esteira.orders.extract import ExtractRequest, extract
from esteira.settings import load_settings

TOKEN = "tok-test-123"


def _order(n: int, updated: str) -> dict:
    return {"pedido_id": f"{n}", "data_pedido": "2024-05-01T10:00:00-03:00",
            "cliente_id": f"C{n}", "produto_id": "P1", "categoria": "Casa", "qtde": 1,
            "preco_unitario": 9.9, "valor_total": 9.9, "uf": "SP", "cidade": "Campinas",
            "canal_venda": "Site", "status_pedido": "Pago", "atualizado_em": updated}


class Shop:
    """The orders, the requests served and the faults to inject."""

    def __init__(self, cursor: bool) -> None:
        self.cursor = cursor
        self.orders = [_order(n, f"2024-05-01T12:{n:02d}:00+00:00") for n in range(1, 8)]
        self.served: list[tuple[str | None, str]] = []  # (since, page or cursor) answered 200
        self.faults = {"2": [429], "3": [503, 502]}  # page -> statuses before success
        self.tokens: set[str] = set()

    def answer(self, query: dict[str, str]) -> tuple[int, dict, dict]:
        since = query.get("updated_since")
        size = int(query["page_size"])
        chosen = [o for o in self.orders if since is None or o["atualizado_em"] >= since]
        page = int(query.get("cursor") or query.get("page") or 1)
        faults = self.faults.get(str(page)) if since is None else None
        if faults:
            status = faults.pop(0)
            return status, {"Retry-After": "1"} if status == 429 else {}, {}
        items = chosen[(page - 1) * size: page * size]
        if page == 2 and since is None:
            items = [chosen[size - 1], *items]  # an order of page 1 again (pages shifted)
        self.served.append((since, str(page)))
        pages = max(1, -(-len(chosen) // size))
        if self.cursor:
            return 200, {}, {"items": items, "next_cursor": str(page + 1) if page < pages
                             else None}
        return 200, {}, {"items": items, "page": page, "total_pages": pages}


@pytest.fixture(params=["pages", "cursor"])
def shop(request) -> Iterator[tuple[Shop, str]]:
    state = Shop(cursor=request.param == "cursor")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state.tokens.add(self.headers.get("Authorization", ""))
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            status, headers, body = state.answer(query)
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/api/pedidos"
    server.shutdown()
    server.server_close()


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_page_once_retries_dedupe_and_an_incremental_rerun(shop, tmp_path, monkeypatch):
    state, api = shop
    monkeypatch.setenv("ESTEIRA_ORDERS__API_TOKEN", TOKEN)
    settings = load_settings(home=tmp_path, orders={"root": str(tmp_path / "orders"),
                                                    "api_page_size": 3})
    out = tmp_path / "pedidos.csv"
    first = extract(settings.orders, settings.home, ExtractRequest.parse(api, None, out, False))
    # 7 orders, 3 per page: pages 1, 2, 3, each answered once (after 429 and two 5xx)
    assert [p for s, p in state.served] == ["1", "2", "3"]
    assert first.retries == 3 and first.duplicates == 1
    assert [r["pedido_id"] for r in _rows(out)] == [str(n) for n in range(1, 8)]
    assert state.tokens == {f"Bearer {TOKEN}"}
    assert first.high_water_mark == "2024-05-01T12:07:00+00:00"

    # two orders change; the rerun asks only for what changed since the mark
    state.orders[1]["atualizado_em"] = "2024-05-02T08:00:00+00:00"
    state.orders[1]["status_pedido"] = "Reembolsado"
    state.orders.append(_order(8, "2024-05-02T09:00:00+00:00"))
    state.served.clear()
    monkeypatch.setenv("ESTEIRA_HOME", str(tmp_path))
    monkeypatch.setenv("ESTEIRA_ORDERS__ROOT", str(tmp_path / "orders"))
    monkeypatch.setenv("ESTEIRA_ORDERS__API_PAGE_SIZE", "3")
    assert cli.main(["orders", "extract", "--api", api, "--out", str(out)]) == 0
    assert state.served == [("2024-05-01T12:07:00+00:00", "1")]
    rows = _rows(out)
    assert [(r["pedido_id"], r["status_pedido"]) for r in rows] == [
        ("2", "Reembolsado"), ("7", "Pago"), ("8", "Pago")]  # 7: same second as the mark


def test_missing_token_and_refused_token_are_one_line(shop, tmp_path, monkeypatch, capsys):
    _state, api = shop
    monkeypatch.delenv("ESTEIRA_ORDERS__API_TOKEN", raising=False)
    monkeypatch.setenv("ESTEIRA_HOME", str(tmp_path))
    assert cli.main(["orders", "extract", "--api", api, "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "ESTEIRA_ORDERS__API_TOKEN" in err and not (tmp_path / "x.csv").exists()


def test_to_kafka_sends_each_order_keyed_by_pedido_id(shop, tmp_path, monkeypatch,
                                                      kafka_bootstrap, kafka_topic):
    from esteira.connectors import kafka

    state, api = shop
    topic = kafka_topic(partitions=3)
    monkeypatch.setenv("ESTEIRA_ORDERS__API_TOKEN", TOKEN)
    settings = load_settings(home=tmp_path, orders={"root": str(tmp_path / "orders"),
                                                    "api_page_size": 3, "topic": topic,
                                                    "partitions": 3})
    result = extract(settings.orders, settings.home,
                     ExtractRequest.parse(api, None, None, True), kafka_bootstrap)
    assert result.orders == 7
    records = kafka.consume(kafka_bootstrap, topic, 7, timeout=30)
    assert sorted(r.key.decode() for r in records) == sorted(str(n) for n in range(1, 8))
    assert all(json.loads(r.value)["pedido_id"] == r.key.decode() for r in records)
