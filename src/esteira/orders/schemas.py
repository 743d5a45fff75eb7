"""The orders' fields, written once: the export/message columns and the PostgreSQL tables.

A message on the orders topic is a JSON object with the canonical columns below (values
as the shop exported them: text or numbers); `atualizado_em` is optional (an order's
first event carries none: its version is its `data_pedido`).
"""

from __future__ import annotations

# the seed's columns, in its order, + the event time of a status change
COLUMNS = (
    "pedido_id", "data_pedido", "cliente_id", "produto_id", "categoria", "qtde",
    "preco_unitario", "valor_total", "uf", "cidade", "canal_venda", "status_pedido",
)
EVENT_TIME = "atualizado_em"
FIELDS = (*COLUMNS, EVENT_TIME)
REQUIRED = ("pedido_id", "data_pedido", "produto_id", "qtde", "preco_unitario",
            "valor_total", "status_pedido")
MESSAGE_SCHEMA = ", ".join(f"{name} string" for name in FIELDS) + ", _corrupt string"

# `pedidos`: one row per order, its newest event (versao = event time in microseconds,
# the Kafka offset breaking ties within one partition, which holds all of one order)
PEDIDOS_DDL = """
    pedido_id text PRIMARY KEY,
    data_pedido timestamptz NOT NULL,
    cliente_id text,
    produto_id text NOT NULL,
    categoria text,
    qtde integer NOT NULL,
    preco_unitario numeric(14,2) NOT NULL,
    valor_total numeric(14,2) NOT NULL,
    uf text,
    cidade text,
    canal_venda text,
    status_pedido text NOT NULL,
    atualizado_em timestamptz NOT NULL,
    versao bigint NOT NULL,
    kafka_particao integer NOT NULL,
    kafka_offset bigint NOT NULL
"""
PEDIDOS_COLUMNS = (*COLUMNS, EVENT_TIME, "versao", "kafka_particao", "kafka_offset")

# dead letters kept in PostgreSQL too: the same as the DLQ message (original key and
# value, rule, source topic/partition/offset); one row per source record
REJECTS_DDL = """
    topico text NOT NULL,
    particao integer NOT NULL,
    "offset" bigint NOT NULL,
    regra text NOT NULL,
    chave bytea,
    valor bytea,
    recebido_em timestamptz,
    app_id text NOT NULL,
    lote bigint NOT NULL,
    PRIMARY KEY (topico, particao, "offset")
"""
REJECTS_COLUMNS = ("topico", "particao", "offset", "regra", "chave", "valor", "recebido_em",
                   "app_id", "lote")

# one row per micro-batch whose PostgreSQL writes committed (and whether its dead
# letters reached the DLQ topic): a replayed batch finds its marker and writes nothing
BATCHES_DDL = """
    app_id text NOT NULL,
    lote bigint NOT NULL,
    confirmado_em timestamptz NOT NULL DEFAULT now(),
    linhas integer NOT NULL,
    gravados integer NOT NULL,
    rejeitados integer NOT NULL,
    dlq_enviada boolean NOT NULL DEFAULT false,
    PRIMARY KEY (app_id, lote)
"""
