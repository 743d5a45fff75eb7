"""The producer on a real broker: keys, JSON values, broken lines to the DLQ by number,
and personal data in the rows (canaries) never printed, logged or put in a header."""

from __future__ import annotations

import json

from canaries import CPF, EMAIL, NAME, PHONE, assert_no_canary
from esteira import cli
from esteira.connectors import kafka, kafka_topics
from esteira.orders.produce import DLQ_LINE

HEADER = "Order_ID,DATA,cliente,produto,categoria,Quantidade,preco,total,UF,Cidade,canal,Status"
LINES = [
    HEADER,
    f"1,2024-01-05 10:00:00,{CPF},P1,Casa,1,10.00,10.00,SP,{NAME},web,pendente",
    f"1,2024-01-05 10:00:00,{CPF},P1,Casa,1,10.00,10.00,SP,{NAME},web,pago",
    f"2,2024-01-05 11:00:00,{EMAIL},P2,Casa,2,10.00,20.00,RJ,Niterói,app,pago",
    f"3,2024-01-05 12:00:00,{PHONE},{NAME},,,",  # too few fields: line 5
    "",
    f'4,2024-01-05 12:00:00,"{NAME},P1,Casa,1,1.00,1.00,SP,X,web,pago',  # open quote: line 7
    f",2024-01-05 12:00:00,{CPF},P1,Casa,1,1.00,1.00,SP,X,web,pago",  # no pedido_id: 8
]


def test_rows_keyed_by_order_broken_lines_to_the_dlq(kafka_bootstrap, kafka_topic, tmp_path,
                                                     monkeypatch, capsys):
    topic, dlq = kafka_topic(partitions=3), kafka_topic(partitions=1)
    path = tmp_path / "export.csv"
    data = "\n".join(LINES).encode() + b"\n" + b"5,2024-01-05,C,P,Casa,1,1,1,SP," + \
        b"S\xe3o Paulo,web,pago\n"  # Latin-1, not UTF-8: line 9
    path.write_bytes(data)
    monkeypatch.setenv("ESTEIRA_ORDERS__TOPIC", topic)
    monkeypatch.setenv("ESTEIRA_ORDERS__DLQ_TOPIC", dlq)
    capsys.readouterr()
    for fmt in ("text", "json"):
        assert cli.main(["--log-format", fmt, "orders", "produce", "--csv", str(path)]) == 0
        out, err = capsys.readouterr()
        text = " ".join(out.split())
        assert "3 entregues, 0 falharam, de 3 linhas" in text
        assert "linhas ilegíveis" in text and "5, 7, 8, 9" in text
        assert_no_canary(out, "stdout")
        assert_no_canary(err, f"stderr ({fmt})")

    records = kafka.consume(kafka_bootstrap, topic, 6, timeout=20)
    assert len(records) == 6  # two runs of three rows
    values = [json.loads(r.value) for r in records]
    assert all(r.key.decode() == v["pedido_id"] for r, v in zip(records, values, strict=True))
    assert {v["status_pedido"] for v in values if v["pedido_id"] == "1"} == {"pendente", "pago"}
    assert len({r.partition for r in records if r.key == b"1"}) == 1  # one order, one partition
    assert set(values[0]) == {"pedido_id", "data_pedido", "cliente_id", "produto_id",
                              "categoria", "qtde", "preco_unitario", "valor_total", "uf",
                              "cidade", "canal_venda", "status_pedido"}

    letters = kafka.consume(kafka_bootstrap, dlq, 8, timeout=20)
    raw = data.split(b"\n")
    assert sorted(int(dict(r.headers)[DLQ_LINE]) for r in letters) == [5, 5, 7, 7, 8, 8, 9, 9]
    for letter in letters:
        headers = dict(letter.headers)
        assert letter.value == raw[int(headers[DLQ_LINE]) - 1]  # the line as it was
        assert_no_canary(" ".join(v.decode() for v in headers.values()), "DLQ headers")


def test_an_export_without_pedido_id_sends_nothing(kafka_bootstrap, kafka_topic, tmp_path,
                                                    monkeypatch, capsys):
    topic = kafka_topic(partitions=1, create=False)
    path = tmp_path / "x.csv"
    path.write_text(f"cliente,data\n{CPF},2024-01-01\n", encoding="utf-8")
    monkeypatch.setenv("ESTEIRA_ORDERS__TOPIC", topic)
    assert cli.main(["orders", "produce", "--csv", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 1 (header): missing column(s) pedido_id" in err
    assert_no_canary(err, "stderr")
    assert topic not in kafka_topics.admin(kafka_bootstrap).list_topics(timeout=10).topics
