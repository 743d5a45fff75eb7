"""Issue 13 item 1 for orders (both engines): canary personal data in every place an export
can hold it (customer, city, a broken row, wrong types, no header, a wrong delimiter)
never reaches stdout, stderr (text and JSON logs), the run log or the JVM's output.
The consumer's side (the stream, on JVM Spark, and the DLQ headers) is checked in
test_consume_crash.py and test_produce.py."""

from __future__ import annotations

from canaries import CPF, EMAIL, NAME, PHONE, SENTENCE
from privacy import Gatherer

HEADER = "pedido_id,data_pedido,cliente_id,produto_id,categoria,qtde,preco_unitario," \
         "valor_total,uf,cidade,canal_venda,status_pedido"
GOOD = f"1,2024-01-05 10:00:00,{CPF},P1,Casa,1,10.00,10.00,SP,{NAME},Site,Pago"
WRONG_TYPES = f"2,{PHONE},{EMAIL},P1,Casa,{CPF},{SENTENCE},10.00,SP,Campinas,{NAME},{NAME}"
BROKEN = f'3,"{SENTENCE},{EMAIL}'


def test_no_personal_data_in_any_output(engine, capfd, tmp_path, pg_schema, monkeypatch):
    monkeypatch.setenv("ESTEIRA_ORDERS__PG_SCHEMA", pg_schema)
    gather = Gatherer(engine, capfd)
    export = tmp_path / "pedidos.csv"
    export.write_text("\n".join([HEADER, GOOD, WRONG_TYPES]) + "\n", encoding="utf-8")
    for out in gather.both_formats("orders", "check", "--csv", export):
        out.assert_clean()
        assert out.code == 0, out.stderr[-800:]
    broken = tmp_path / "quebrado.csv"
    broken.write_text("\n".join([HEADER, GOOD, BROKEN, WRONG_TYPES]) + "\n", encoding="utf-8")
    for out in gather.both_formats("orders", "check", "--csv", broken):
        out.assert_clean()
        if engine == "sail":  # Sail stops at the row; JVM Spark reads it, the rules flag it
            out.expect_error(2, "quebrado.csv", "line 3: 2 fields, the header has 12")

    no_header = tmp_path / "sem_cabecalho.csv"
    no_header.write_text(GOOD + "\n", encoding="utf-8")
    semicolons = tmp_path / "ponto_e_virgula.csv"
    semicolons.write_text(HEADER.replace(",", "|") + "\n" + GOOD.replace(",", "|") + "\n",
                          encoding="utf-8")
    for bad in (no_header, semicolons):
        for out in gather.both_formats("orders", "check", "--csv", bad):
            out.assert_clean()
            out.expect_error(2, bad.name, "missing column(s)")

    for out in gather.both_formats("orders", "report", "top-cities", "--status", "pago"):
        out.assert_clean()
