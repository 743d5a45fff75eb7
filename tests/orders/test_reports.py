"""Every report on five orders whose answers were worked out by hand (ties included)."""

from __future__ import annotations

import psycopg
import pytest

from esteira.orders import io
from esteira.settings import load_settings

# pedido, data_pedido (UTC), produto, categoria, qtde, preco, valor, uf, cidade, canal, status
ORDERS = [
    ("1", "2024-01-10 12:00+00", "P2", "Casa", 3, 10, 30, "SP", "São Paulo", "Site", "Pago"),
    ("2", "2024-01-10 12:00+00", "P1", "Casa", 2, 10, 20, "SP", "Campinas", "App", "Pago"),
    ("3", "2024-01-11 12:00+00", "P1", "Casa", 1, 10, 10, "RJ", "Niterói", "Site", "Cancelado"),
    # 02:00 UTC on 1 Feb is 23:00 on 31 Jan in São Paulo: a January order there
    ("4", "2024-02-01 02:00+00", "P3", "Pet", 3, 5, 15, "RJ", "Niterói", "Marketplace",
     "Pendente"),
    ("5", "2024-02-02 12:00+00", "P4", "Pet", 1, 100, 100, "SP", "Campinas", "Site",
     "Reembolsado"),
]
# report arguments -> the CSV's data rows, by hand
CASES = [
    (["top-products"], ["P1,Casa,2,3,30.00", "P2,Casa,1,3,30.00", "P3,Pet,1,3,15.00",
                        "P4,Pet,1,1,100.00"]),
    (["top-products", "--limit", "2"], ["P1,Casa,2,3,30.00", "P2,Casa,1,3,30.00"]),
    (["top-products", "--to", "2024-01-31"], ["P1,Casa,2,3,30.00", "P2,Casa,1,3,30.00",
                                              "P3,Pet,1,3,15.00"]),
    (["top-products", "--from", "2024-02-01"], ["P4,Pet,1,1,100.00"]),
    (["top-cities"], ["Campinas,SP,2,120.00", "Niterói,RJ,2,25.00", "São Paulo,SP,1,30.00"]),
    (["top-cities", "--uf", "rj"], ["Niterói,RJ,2,25.00"]),
    (["revenue-by-category"], ["Casa,2,50.00"]),
    (["revenue-by-category", "--status", "all"], ["Pet,2,115.00", "Casa,3,60.00"]),
    (["revenue-by-category", "--status", "paid,CANCELADO"], ["Casa,3,60.00"]),
    (["channels"], ["Site,3,140.00,46.67", "App,1,20.00,20.00", "Marketplace,1,15.00,15.00"]),
    (["status"], ["Pago,2,50.00", "Cancelado,1,10.00", "Pendente,1,15.00",
                  "Reembolsado,1,100.00"]),
]


@pytest.fixture
def filled(pg_schema, pg_conninfo, monkeypatch) -> str:
    monkeypatch.setenv("ESTEIRA_ORDERS__PG_SCHEMA", pg_schema)
    t = io.ensure_tables(pg_conninfo, load_settings(orders={"pg_schema": pg_schema}).orders)
    with psycopg.connect(pg_conninfo) as conn:
        conn.cursor().executemany(
            f"INSERT INTO {t.pedidos} (pedido_id, data_pedido, produto_id, categoria, qtde, "
            "preco_unitario, valor_total, uf, cidade, canal_venda, status_pedido, "
            "atualizado_em, versao, kafka_particao, kafka_offset) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, 0, 0)",
            [(*row, row[1]) for row in ORDERS])
    return pg_schema


def test_every_report_on_known_answers(filled, run_cli, tmp_path):
    for args, expected in CASES:
        out = tmp_path / "r.csv"
        code, stdout, stderr = run_cli("orders", "report", *args, "--out", out)
        assert code == 0, stderr
        lines = out.read_text(encoding="utf-8").splitlines()
        assert lines[1:-1] == expected, args
        assert lines[-1].startswith("# contados: ")
        assert "contados:" in stdout


def test_output_says_what_it_counted_in_pt_br_and_draws_a_chart(filled, run_cli, tmp_path):
    chart = tmp_path / "c.png"
    code, out, _ = run_cli("orders", "report", "revenue-by-category", "--from", "2024-01-01",
                           "--to", "2024-01-31", "--uf", "SP", "--chart", chart)
    assert code == 0
    text = " ".join(out.split())
    assert "R$\xa050,00" in out
    assert "contados: 2 pedidos; status: Pago; data do pedido: de 01/01/2024 a 31/01/2024" \
        in text and "UF: SP" in text
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_report_options_are_one_line(filled, run_cli):
    for args, words in ((["nope"], "unknown report"), (["status", "--from", "ontem"], "--from"),
                        (["status", "--status", "perdido"], "--status")):
        code, out, err = run_cli("orders", "report", *args)
        assert code == 2 and words in err and out == ""
