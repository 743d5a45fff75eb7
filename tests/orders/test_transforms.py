"""Exports as shops write them, normalised and validated (both engines); expected values
written by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from esteira.errors import MissingColumnError
from esteira.orders import io, transforms
from esteira.settings import load_settings

# semicolons, other order, other case, aliases, comma decimals, naive and offset times
EXPORT = """STATUS;Canal;Order_ID;Data;Preço;QTD;Total;Produto;Cidade;UF;Categoria;cliente
pago;web;A1;05/01/2024 10:00;1.234,50;2;2.469,00;P1;são  paulo;sp;Casa;C1
CANCELLED;Loja Física;A2;2024-01-05T10:00:00-02:00;10,00;1;10,00;P2;Campinas;SP;Casa;C2
Aguardando Pagamento;APP;A3;2024-01-05 23:30:00Z;0,99;3;2,97;P3;Recife;PE;Pet;C3
"""
EXPECTED = {  # pedido_id -> (instant UTC, status, canal, preco, valor, qtde, uf)
    "A1": (datetime(2024, 1, 5, 13, 0, tzinfo=UTC), "Pago", "Site", Decimal("1234.50"),
           Decimal("2469.00"), 2, "SP"),
    "A2": (datetime(2024, 1, 5, 12, 0, tzinfo=UTC), "Cancelado", "Loja", Decimal("10.00"),
           Decimal("10.00"), 1, "SP"),
    "A3": (datetime(2024, 1, 5, 23, 30, tzinfo=UTC), "Pendente", "App", Decimal("0.99"),
           Decimal("2.97"), 3, "PE"),
}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _flagged(spark, path: Path, **orders):
    settings = load_settings(orders=orders)
    canonical = io.read_export(spark, path, settings.orders)
    rules = transforms.validation_rules(settings.orders)
    records = transforms.export_records(canonical)
    return transforms.flag(transforms.normalise(records, settings.orders),
                           io.known_cities(), rules), rules


def test_an_export_in_another_shape_is_normalised(spark, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(EXPORT, encoding="utf-8")
    flagged, _ = _flagged(spark, path, decimal="comma")
    rows = {r["pedido_id"]: r for r in flagged.collect()}
    got = {pid: (_utc(r["data_pedido"]), r["status_pedido"], r["canal_venda"],
                 r["preco_unitario"], r["valor_total"], r["qtde"], r["uf"])
           for pid, r in rows.items()}
    assert got == EXPECTED
    assert {pid: r["_dq_failed"] for pid, r in rows.items()} == {"A1": [], "A2": [], "A3": []}
    assert _utc(rows["A1"]["atualizado_em"]) == EXPECTED["A1"][0]  # no update time: the order's


ROWS = """\
pedido_id,data_pedido,produto_id,qtde,preco_unitario,valor_total,status_pedido,canal_venda,uf,\
cidade
ok,2024-01-05 10:00:00,P1,2,10.00,20.01,Pago,Site,SP,Campinas
sem_qtde,2024-01-05 10:00:00,P1,,10.00,20.00,Pago,Site,SP,Campinas
tipo,2024-01-05 10:00:00,P1,2,dez,20.00,Pago,Site,SP,Campinas
status,2024-01-05 10:00:00,P1,2,10.00,20.00,Perdido,Site,SP,Campinas
qtde0,2024-01-05 10:00:00,P1,0,10.00,0.00,Pago,Site,SP,Campinas
negativo,2024-01-05 10:00:00,P1,1,-5.00,-5.00,Pago,Site,SP,Campinas
total,2024-01-05 10:00:00,P1,2,10.00,20.02,Pago,Site,SP,Campinas
futuro,2999-01-05 10:00:00,P1,2,10.00,20.00,Pago,Site,SP,Campinas
canal,2024-01-05 10:00:00,P1,2,10.00,20.00,Pago,Fax,SP,Campinas
cidade,2024-01-05 10:00:00,P1,2,10.00,20.00,Pago,Site,RJ,Campinas
"""


def test_each_rule_flags_exactly_its_row(spark, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(ROWS, encoding="utf-8")
    flagged, rules = _flagged(spark, path)
    got = {r["pedido_id"]: r["_dq_failed"] for r in flagged.collect()}
    assert got == {"ok": [], "sem_qtde": ["campos_obrigatorios"], "tipo": ["tipos"],
                   "status": ["status_conhecido"], "qtde0": ["qtde_positiva"],
                   "negativo": ["preco_nao_negativo"], "total": ["valor_total_confere"],
                   "futuro": ["data_nao_futura"], "canal": ["canal_conhecido"],
                   "cidade": ["cidade_conhecida_na_uf"]}
    actions = {r.name: r.action for r in rules}
    assert actions["canal_conhecido"] == actions["cidade_conhecida_na_uf"] == "warn"
    warned = ("canal_conhecido", "cidade_conhecida_na_uf")
    assert {actions[n[0]] for n in got.values() if n and n[0] not in warned} == {"drop"}


def test_the_usual_shapes_parse_as_the_other_spellings_of_one_value(spark, tmp_path):
    """The fast paths (plain casts tried before any regex) agree with the general ones."""
    path = tmp_path / "spellings.csv"
    path.write_text(
        "pedido_id,data_pedido,produto_id,qtde,preco_unitario,valor_total,status_pedido\n"
        "usual,2024-01-05 10:00:00,P1,2,1234.50,2469.00,Pago\n"
        'iso,2024-01-05T10:00:00.000,P1,"2,0","1,234.50",R$ 2469,Pago\n'
        "offset,2024-01-05 10:00:00-03:00,P1,2.00,1234.5,2469,Pago\n", encoding="utf-8")
    flagged, _ = _flagged(spark, path)
    got = {r["pedido_id"]: (_utc(r["data_pedido"]), r["qtde"], r["preco_unitario"],
                            r["valor_total"], r["_dq_failed"]) for r in flagged.collect()}
    usual = (datetime(2024, 1, 5, 13, 0, tzinfo=UTC), 2, Decimal("1234.50"),
             Decimal("2469.00"), ["canal_conhecido", "cidade_conhecida_na_uf"])  # warn only
    assert got == {"usual": usual, "iso": usual, "offset": usual}


def test_a_batch_writes_only_the_newest_event_per_order(spark, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "pedido_id,data_pedido,produto_id,qtde,preco_unitario,valor_total,status_pedido,"
        "atualizado_em\n"
        "A,2024-01-05 10:00:00,P1,1,1.00,1.00,Pago,2024-01-05 11:00:00\n"
        "A,2024-01-05 10:00:00,P1,1,1.00,1.00,Pendente,2024-01-05 10:00:00\n"
        "A,2024-01-05 10:00:00,P1,1,1.00,1.00,Cancelado,2024-01-06 10:00:00\n"
        "B,2024-01-05 10:00:00,P1,0,1.00,0.00,Reembolsado,2024-01-09 10:00:00\n"
        "B,2024-01-05 10:00:00,P1,1,1.00,1.00,Pago,2024-01-05 10:00:00\n", encoding="utf-8")
    flagged, rules = _flagged(spark, path)
    outcome = transforms.batch_outcome(flagged, rules).toArrow()
    newest = transforms.newest_per_order(outcome).to_pylist()
    assert [(r["pedido_id"], r["status_pedido"]) for r in newest] == [
        ("A", "Cancelado"), ("B", "Pago")]  # B's newer event broke qtde_positiva
    rejected = [r["regra"] for r in outcome.to_pylist() if r["_rejeitado"]]
    assert rejected == ["qtde_positiva"]


def test_an_export_without_a_required_column_names_it(spark, tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("pedido_id,data_pedido\n1,2024-01-01\n", encoding="utf-8")
    with pytest.raises(MissingColumnError, match="produto_id") as caught:
        _flagged(spark, path)
    assert str(path) in str(caught.value)


def test_newest_per_order_breaks_a_version_tie_by_the_kafka_offset():
    outcome = pa.table({
        "pedido_id": ["B", "A", "A", "A", "B"],
        "status_pedido": ["Pago", "Pago", "Cancelado", "Reembolsado", "Pendente"],
        "versao": [5, 7, 7, 9, 5],
        "kafka_offset": [10, 1, 2, 3, 11],
        "_passou": [True, True, True, False, True],  # A's newest broke a rule
    })
    newest = transforms.newest_per_order(outcome).to_pylist()
    assert [(r["pedido_id"], r["status_pedido"]) for r in newest] == [
        ("A", "Cancelado"), ("B", "Pendente")]
