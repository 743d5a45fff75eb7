"""The fact table, dim_data and the flat file over two loads and a rerun, both targets.

Movements: one on Ana's card, one on a card whose associado the source does not have,
one on a card the source does not have; then a correction to the first (old) movement,
a new one on a national holiday (Tiradentes) and the missing card arriving late; then a
rerun that changes nothing.
"""

from __future__ import annotations

import csv

import pytest

from .conftest import Warehouse, ts

HEADER = [
    "nome_associado", "sobrenome_associado", "idade_associado", "vlr_transacao_movimento",
    "des_transacao_movimento", "data_movimento", "numero_cartao", "nome_impresso_cartao",
    "data_criacao_cartao", "tipo_conta", "data_criacao_conta",
]


def seed_source(wh: Warehouse) -> None:
    wh.source_sql("INSERT INTO {s}.associado VALUES (1, 'Ana', 'Souza', '1990-05-10', "
                  "'ana@x.com', 'Casado', 'Ensino Médio', '2024-01-10 10:00-03')")
    wh.source_sql("INSERT INTO {s}.conta VALUES (10, 'Corrente', '2023-05-01 10:00:00', 1), "
                  "(11, ' investimento', '2023-06-01 10:00:00', 99)")
    wh.source_sql("INSERT INTO {s}.cartao VALUES "
                  "(100, '5555 4444 3333 2222', 'Ana Souza', '2023-05-02 11:00:00', 10, 1), "
                  "(101, '4444333322221111', 'JOSE X', '2023-06-02 11:00:00', 11, 99)")
    wh.source_sql("INSERT INTO {s}.movimento VALUES "
                  "(1000, 150.75, ' Supermercado  Dia ', '2024-02-10 14:30:00', 100, "
                  "'2024-02-10 14:31-03'), "
                  "(1001, 20.00, 'Farmácia', '2024-02-11 09:00:00', 101, '2024-02-11 09:01-03'), "
                  "(1002, 5.50, 'Padaria', '2024-02-12 08:00:00', 999, '2024-02-12 08:01-03')")


def _facts(wh: Warehouse) -> list[tuple]:
    return [tuple(r) for r in wh.dw_rows(
        "SELECT id_movimento, sk_associado, sk_conta, sk_cartao, sk_data, vlr_transacao, "
        "des_transacao FROM {t}.fato_movimentacao_cartao ORDER BY id_movimento")]


def _flat(wh: Warehouse) -> list[list[str]]:
    path = wh.settings.warehouse.flat_file
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@pytest.mark.jvm_delta  # the Delta target's whole chain, thrice, on the JVM engine too
def test_facts_corrections_unknown_members_calendar_and_flat_file(wh: Warehouse, target):
    from decimal import Decimal

    seed_source(wh)
    first = wh.run(now=ts("2024-03-01T12:00+00:00"))
    facts = next(s for s in first.steps if s.step == "facts")
    assert "1 movement(s) with an unknown card loaded with key -1" in facts.warnings
    assert "1 movement(s) with an unknown associado loaded with key -1" in facts.warnings
    sk = dict(wh.dw_rows("SELECT id_cartao, sk_cartao FROM {t}.dim_cartao"))
    conta = dict(wh.dw_rows("SELECT id_conta, sk_conta FROM {t}.dim_conta"))
    ana = wh.dw_rows("SELECT sk_associado FROM {t}.dim_associado WHERE id_associado = 1")[0][0]
    assert _facts(wh) == [
        (1000, ana, conta[10], sk[100], 20240210, Decimal("150.75"), "Supermercado Dia"),
        (1001, -1, conta[11], sk[101], 20240211, Decimal("20.00"), "Farmácia"),
        (1002, -1, -1, -1, 20240212, Decimal("5.50"), "Padaria"),
    ]
    flat = _flat(wh)
    assert flat[0] == HEADER
    assert flat[1] == ["Ana", "Souza", "33", "150.75", "Supermercado Dia", "2024-02-10 14:30:00",
                       "5555444433332222", "ANA SOUZA", "2023-05-02 11:00:00", "Corrente",
                       "2023-05-01 10:00:00"]
    assert len(flat) == 4
    days = wh.dw_rows("SELECT sk_data, nome_dia_semana, fim_de_semana, feriado "
                      "FROM {t}.dim_data ORDER BY sk_data")
    assert days == [(20240210, "Sábado", True, False), (20240211, "Domingo", True, False),
                    (20240212, "Segunda-feira", False, False)]

    # a correction to the old movement 1000, and a new one on Tiradentes (21 April)
    wh.source_sql("UPDATE {s}.movimento SET vlr_transacao = 140.75, "
                  "atualizado_em = '2024-04-22 10:00-03' WHERE id = 1000")
    wh.source_sql("INSERT INTO {s}.movimento VALUES (1003, 99.90, 'Cinema', "
                  "'2024-04-21 20:00:00', 100, '2024-04-21 20:05-03')")
    # and the card of 1002 arrives late, as does 1001's associado (a new one, whose
    # first version no fact had): both facts leave the unknown member
    wh.source_sql("INSERT INTO {s}.cartao VALUES (999, '4111111111111111', 'ANA SOUZA', "
                  "'2024-01-01 10:00:00', 10, 1)")
    wh.source_sql("INSERT INTO {s}.associado VALUES (99, 'José', 'Xavier', '1980-01-02', "
                  "'jose@x.com', 'Solteiro', 'Ensino Médio', '2024-04-22 09:00-03')")
    second = wh.run(now=ts("2024-04-23T12:00+00:00"))
    assert next(s for s in second.steps if s.step == "facts").wrote == {
        "fato_movimentacao_cartao": 4}
    rows = _facts(wh)
    assert [r[0] for r in rows] == [1000, 1001, 1002, 1003]
    late = dict(wh.dw_rows("SELECT id_cartao, sk_cartao FROM {t}.dim_cartao"))[999]
    jose = wh.dw_rows("SELECT sk_associado FROM {t}.dim_associado WHERE id_associado = 99")
    assert rows[1][1:4] == (jose[0][0], conta[11], sk[101])
    assert rows[2][1:4] == (ana, conta[10], late)
    assert rows[0][5] == Decimal("140.75") and rows[3][4] == 20240421
    assert _stamps(wh) == {i: ts("2024-04-23T12:00+00:00") for i in (1000, 1001, 1002, 1003)}
    holiday = wh.dw_rows("SELECT feriado, nome_feriado FROM {t}.dim_data "
                         "WHERE sk_data = 20240421")
    assert holiday[0][0] is True and "Tiradentes" in holiday[0][1]
    assert wh.dw_rows("SELECT count(*) FROM {t}.dim_data")[0][0] == 72  # 10 Feb..21 Apr
    assert _flat(wh)[-1][3:6] == ["99.90", "Cinema", "2024-04-21 20:00:00"]
    if target == "postgres":  # the big tables' rows in etl_controle: counted, then added to
        for table in ("raw_movimento", "trusted_movimento", "fato_movimentacao_cartao"):
            assert wh.dw_rows("SELECT linhas FROM {t}.etl_controle WHERE tabela = %s",
                              (table,)) == wh.dw_rows(f"SELECT count(*) FROM {{t}}.{table}")

    third = wh.run(now=ts("2024-04-23T13:00+00:00"))
    assert next(s for s in third.steps if s.step == "facts").wrote == {
        "fato_movimentacao_cartao": 0}
    assert _facts(wh) == rows
    assert _stamps(wh) == {i: ts("2024-04-23T12:00+00:00") for i in (1000, 1001, 1002, 1003)}


def _stamps(wh: Warehouse) -> dict:
    return {i: _utc(at) for i, at in wh.dw_rows(
        "SELECT id_movimento, data_hora_atualizacao_registro FROM {t}.fato_movimentacao_cartao")}


def _utc(value):
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_facts_check_counts_every_key_missing_from_its_dimension(wh: Warehouse, engine, tmp_path):
    """The check before the facts' commit, on the rows as loaded (Sail: its Arrow copy;
    JVM: the side table): a key no dimension row has, and a null one, are counted."""
    import pytest
    from pyspark.sql import types as T

    from esteira.connectors import postgres_load
    from esteira.errors import QualityError
    from esteira.warehouse import pg_checks

    seed_source(wh)
    wh.run(now=ts("2024-03-01T12:00+00:00"))
    schema = T.StructType([T.StructField(c, T.LongType()) for c in (
        "id_movimento", "sk_associado", "sk_conta", "sk_cartao")])
    changes = wh.spark.createDataFrame(
        [(1000, -1, -1, 999_999), (1001, -1, None, -1), (1002, -1, -1, 424_242)], schema)

    def check(conn, loaded):
        loaded["fato_movimentacao_cartao"].table  # noqa: B018  (loaded as a table)
        pg_checks.CHECKS["facts"](conn, wh.dw, loaded)

    with pytest.raises(QualityError) as failed:
        postgres_load.load_and_apply(
            wh.dsn, {"fato_movimentacao_cartao": changes}, check, schema=wh.dw,
            scratch=tmp_path / "scratch" if engine == "sail" else None)
    assert str(failed.value) == ("fato_movimentacao_cartao: 1 sk_conta not in dim_conta; "
                                 "2 sk_cartao not in dim_cartao; nothing written")
