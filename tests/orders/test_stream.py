"""The consumer on a real broker, real PostgreSQL and JVM Spark (in this process).

One topic holds hand-written events: every validation rule broken by exactly one record,
two warnings, status changes in order and out of order (in one batch and across
batches: four records per micro-batch). Expected rows are written by hand below. Then a
second consumer (new checkpoint) replays the whole topic: nothing changes, and no dead
letter is sent twice.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import psycopg
import pytest

from esteira import endpoints
from esteira.connectors import kafka
from esteira.orders import io, job
from esteira.orders.job import ConsumeRequest
from esteira.runlog import read_runs


def _order(pid: str, status: str, at: str, **changes) -> dict:
    row = {"pedido_id": pid, "data_pedido": "2024-03-01 10:00:00", "cliente_id": "C1",
           "produto_id": "P1", "categoria": "Casa", "qtde": "2", "preco_unitario": "10.00",
           "valor_total": "20.00", "uf": "SP", "cidade": "Campinas", "canal_venda": "site",
           "status_pedido": status, "atualizado_em": at}
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


# (key, value) in topic order; one partition so that the batches hold these in order
BROKEN = {
    "mensagem_legivel": (b"X1", b'{"pedido_id": "X1", "qtde": '),
    "campos_obrigatorios": _order("X2", "Pago", "2024-03-01 10:00:00", qtde=None),
    "tipos": _order("X3", "Pago", "2024-03-01 10:00:00", preco_unitario="dez"),
    "status_conhecido": _order("X4", "Extraviado", "2024-03-01 10:00:00"),
    "qtde_positiva": _order("X5", "Pago", "2024-03-01 10:00:00", qtde="0", valor_total="0"),
    "preco_nao_negativo": _order("X6", "Pago", "2024-03-01 10:00:00", qtde="1",
                                 preco_unitario="-1.00", valor_total="-1.00"),
    "valor_total_confere": _order("X7", "Pago", "2024-03-01 10:00:00", valor_total="20.02"),
    "data_nao_futura": _order("X8", "Pago", "2099-01-01 00:00:00",
                              data_pedido="2099-01-01 00:00:00"),
}
EVENTS = [
    _order("A", "Pendente", "2024-03-01 10:00:00"),
    _order("A", "Pago", "2024-03-01 10:05:00"),  # in order, same batch
    _order("B", "Pago", "2024-03-01 11:00:00"),
    _order("B", "Pendente", "2024-03-01 10:00:00"),  # out of order, same batch
    BROKEN["mensagem_legivel"], BROKEN["campos_obrigatorios"], BROKEN["tipos"],
    _order("C", "Reembolsado", "2024-03-05 09:00:00"),  # newest first ...
    BROKEN["status_conhecido"], BROKEN["qtde_positiva"], BROKEN["preco_nao_negativo"],
    BROKEN["valor_total_confere"],
    _order("C", "Pago", "2024-03-01 10:30:00"),  # ... older in a later batch: ignored
    BROKEN["data_nao_futura"],
    _order("D", "Pendente", "2024-03-01 10:00:00", canal_venda="Fax"),  # warn: kept
    _order("E", "pending", "2024-03-01 10:00:00", cidade="Atlantida Perdida",  # warn: kept
           valor_total="20.01"),  # within one centavo
    _order("D", "CANCELLED", "2024-03-02 10:00:00", canal_venda="Fax"),  # alias, any case
]
EXPECTED = {  # pedido_id -> (status, canal, valor_total), by hand
    "A": ("Pago", "Site", Decimal("20.00")),
    "B": ("Pago", "Site", Decimal("20.00")),
    "C": ("Reembolsado", "Site", Decimal("20.00")),
    "D": ("Cancelado", None, Decimal("20.00")),
    "E": ("Pendente", "Site", Decimal("20.01")),
}


def _messages() -> list[tuple[bytes, bytes]]:
    return [e if isinstance(e, tuple) else (e["pedido_id"].encode(), json.dumps(e).encode())
            for e in EVENTS]


def _dump(dsn: str, schema: str) -> tuple[list, list]:
    with psycopg.connect(dsn) as conn:
        pedidos = conn.execute(f"SELECT * FROM {schema}.pedidos ORDER BY pedido_id").fetchall()
        rejects = conn.execute(f'SELECT "offset", regra, chave, valor FROM {schema}.'
                               'pedidos_rejeitados ORDER BY "offset"').fetchall()
    return pedidos, rejects


def test_rules_versions_dlq_and_a_full_replay(stream_session, orders_settings, pg_schema,
                                              kafka_bootstrap, kafka_topic, caplog, tmp_path):
    topic = kafka_topic(partitions=1)
    # the platform's threshold, set for this source only (one value for the batch alert
    # line and the run's alert)
    settings = orders_settings(topic=topic, partitions=1, max_offsets_per_trigger=4,
                               alerts={"rejected_share": {"orders": 0.3}})
    messages = _messages()
    kafka.produce(kafka_bootstrap, topic, messages)
    dsn = endpoints.postgres_dsn(settings)

    with caplog.at_level(logging.INFO, logger="esteira"):
        result = job.consume(settings, stream_session, ConsumeRequest(until_idle=3))
    assert result.records == len(EVENTS)
    pedidos, rejects = _dump(dsn, pg_schema)
    got = {r[0]: (r[11], r[10], r[7]) for r in pedidos}
    assert got == EXPECTED
    assert {r[0]: r[1] for r in pedidos}["A"].isoformat() == "2024-03-01T13:00:00+00:00"

    # every rule: its record in the rejects table, with its reason and untouched bytes
    offsets = {messages.index(v if isinstance(v, tuple) else
                              (v["pedido_id"].encode(), json.dumps(v).encode())): rule
               for rule, v in BROKEN.items()}
    assert {r[0]: r[1] for r in rejects} == offsets
    assert {(r[2], r[3]) for r in rejects} == {messages[o] for o in offsets}
    # ... and in the DLQ with Connect's headers (names and numbers only)
    letters = kafka.consume(kafka_bootstrap, settings.orders.dlq_topic, len(BROKEN), timeout=20)
    assert len(letters) == len(BROKEN)
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        offset = int(headers[io.DLQ_OFFSET])
        assert (letter.key, letter.value) == messages[offset]
        assert headers[io.DLQ_RULE] == offsets[offset]
        assert headers[io.DLQ_TOPIC] == topic and headers[io.DLQ_PARTITION] == "0"

    # warnings counted, rows kept; the alert line and the run-log counter
    assert result.quality.failures["canal_conhecido"] == 2
    assert result.quality.failures["cidade_conhecida_na_uf"] == 1
    assert result.rejected == len(BROKEN)
    assert result.alerts >= 1 and "ALERTA: lote" in caplog.text
    run = [r for r in read_runs(settings.runs_file) if r["pipeline"] == "orders.consume"
           and r["inputs"].get("kafka") == len(EVENTS)][-1]
    assert run["rules"][job.ALERT_RULE]["failed"] == result.alerts
    assert run["rules"][job.ALERT_RULE]["threshold"] == 0.3
    assert run["rules"]["orders.valor_total_confere"]["failed"] == 1

    # a second consumer (new checkpoint) reads the whole topic again: nothing changes
    again = orders_settings(topic=topic, partitions=1, max_offsets_per_trigger=4,
                            root=str(tmp_path / "second"))
    job.consume(again, stream_session, ConsumeRequest(until_idle=3))
    assert _dump(dsn, pg_schema) == (pedidos, rejects)
    assert len(kafka.consume(kafka_bootstrap, settings.orders.dlq_topic, 20, timeout=6)) == \
        len(BROKEN)


def test_consume_on_sail_says_so_at_once(engine, run_cli):
    if engine != "sail":
        pytest.skip("the refusal is for engine sail")
    code, out, err = run_cli("orders", "consume", "--until-idle", "5s")
    assert code == 2 and out == ""
    assert "JVM engine only" in err and "--engine spark" in err
