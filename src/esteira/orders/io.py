"""Reads and writes of the orders system: exports, the topics, PostgreSQL.

PostgreSQL (schema `orders.pg_schema`):
  pedidos             one row per order, its newest event (`versao` + Kafka offset)
  pedidos_rejeitados  dead letters: original key and value, rule(s), source coordinates
  pedidos_lotes       one marker per micro-batch whose writes committed

Exactly once, per micro-batch, in ONE transaction: the marker (app_id, batch id) is
inserted first; a replayed batch finds it and writes nothing. Then the batch's newest
event per order is COPYed into a temporary table and upserted with one INSERT ... ON
CONFLICT (pedido_id) DO UPDATE ... WHERE (pedidos.versao, pedidos.kafka_offset) <
(excluded.versao, excluded.kafka_offset): an older event never overwrites a newer one,
whatever batch or replay it arrives in. Rejects go in with ON CONFLICT DO NOTHING (key:
topic, partition, offset), so a new consumer re-reading the topic adds none twice.

The dead-letter topic gets the rejects that transaction stored (RETURNING: a record
rejected by an earlier consumer of the topic is not sent again), after the commit; the
marker is then flagged (`dlq_enviada`). A batch replayed between the two re-sends its
dead letters (at least once, only in that window of milliseconds); each carries its
source topic/partition/offset in headers, which identify it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from psycopg import sql
from pyspark.sql import DataFrame, SparkSession

from esteira.brazil import cities, fold
from esteira.connectors import files, kafka, postgres_write
from esteira.connectors import postgres as pg
from esteira.orders import transforms
from esteira.orders.config import OrdersSettings
from esteira.orders.schemas import BATCHES_DDL, PEDIDOS_DDL, REJECTS_COLUMNS, REJECTS_DDL

NEWER = ("(pedidos.versao, pedidos.kafka_offset) < (excluded.versao, excluded.kafka_offset)")
# Kafka Connect's dead-letter headers (errors.deadletterqueue.context.headers.enable)
DLQ_TOPIC, DLQ_PARTITION, DLQ_OFFSET = ("__connect.errors.topic", "__connect.errors.partition",
                                        "__connect.errors.offset")
DLQ_CLASS, DLQ_MESSAGE = ("__connect.errors.exception.class.name",
                          "__connect.errors.exception.message")
DLQ_RULE = "esteira.regra"


@dataclass(frozen=True)
class Tables:
    pedidos: str
    rejects: str
    batches: str


def tables(cfg: OrdersSettings) -> Tables:
    return Tables(cfg.qualified(cfg.table), cfg.qualified(cfg.rejects_table),
                  cfg.qualified(cfg.batches_table))


def ensure_tables(dsn: str, cfg: OrdersSettings) -> Tables:
    """Creates the schema and the three tables when missing."""
    t = tables(cfg)
    with pg.connect(dsn) as conn, conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(cfg.pg_schema)))
        for name, ddl in ((t.pedidos, PEDIDOS_DDL), (t.rejects, REJECTS_DDL),
                          (t.batches, BATCHES_DDL)):
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                sql.Identifier(*name.split(".")), sql.SQL(ddl)))
    return t


def batch_state(dsn: str, t: Tables, app_id: str, batch_id: int) -> str | None:
    """None (not written yet), 'dlq_pending' (written, dead letters not confirmed) or
    'done'."""
    with pg.connect(dsn) as conn:
        row = conn.execute(
            sql.SQL("SELECT dlq_enviada FROM {} WHERE app_id = %s AND lote = %s").format(
                sql.Identifier(*t.batches.split("."))), (app_id, batch_id)).fetchone()
    if row is None:
        return None
    return "done" if row[0] else "dlq_pending"


def write_batch(dsn: str, t: Tables, app_id: str, batch_id: int, pedidos: pa.Table,
                rejects: pa.Table, rows: int) -> set[tuple[int, int]] | None:
    """One transaction: marker, versioned upsert, rejects. Returns the (partition, offset)
    of the rejects stored now (those already stored by an earlier run are not dead
    letters again); None when the marker was already there (a replay): nothing written."""
    with pg.connect(dsn) as conn, conn.transaction():
        marked = conn.execute(
            sql.SQL("INSERT INTO {} (app_id, lote, linhas, gravados, rejeitados) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING lote").format(
                _id(t.batches)),
            (app_id, batch_id, rows, pedidos.num_rows, rejects.num_rows)).fetchone()
        if marked is None:
            return None
        postgres_write.upsert_arrow(conn, t.pedidos, pedidos, ["pedido_id"], NEWER)
        return _insert_rejects(conn, t, rejects, app_id, batch_id)


def _insert_rejects(conn, t: Tables, rejects: pa.Table, app_id: str,
                    batch_id: int) -> set[tuple[int, int]]:
    if not rejects.num_rows:
        return set()
    names = sql.SQL(", ").join(sql.Identifier(c) for c in REJECTS_COLUMNS)
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING "
                        'RETURNING particao, "offset"').format(
        _id(t.rejects), names, sql.SQL(", ").join(sql.Placeholder() * len(REJECTS_COLUMNS)))
    stored: set[tuple[int, int]] = set()
    rows = [{**r, "app_id": app_id, "lote": batch_id} for r in rejects.to_pylist()]
    with conn.cursor() as cur:
        cur.executemany(statement, [tuple(r[c] for c in REJECTS_COLUMNS) for r in rows],
                        returning=True)
        while True:
            stored.update(tuple(row) for row in cur.fetchall())
            if not cur.nextset():
                break
    return stored


def stored_rejects(dsn: str, t: Tables, app_id: str, batch_id: int) -> set[tuple[int, int]]:
    """The rejects this batch stored when it first ran (its dead letters to re-send)."""
    with pg.connect(dsn) as conn:
        rows = conn.execute(sql.SQL('SELECT particao, "offset" FROM {} WHERE app_id = %s AND '
                                    "lote = %s").format(_id(t.rejects)),
                            (app_id, batch_id)).fetchall()
    return {tuple(r) for r in rows}


def _id(table: str) -> sql.Identifier:
    return sql.Identifier(*table.split("."))


def mark_dlq_sent(dsn: str, t: Tables, app_id: str, batch_id: int) -> None:
    with pg.connect(dsn) as conn:
        conn.execute(sql.SQL("UPDATE {} SET dlq_enviada = true WHERE app_id = %s AND lote = %s")
                     .format(sql.Identifier(*t.batches.split("."))), (app_id, batch_id))


def dlq_headers(rule: str, topic: str | None, partition: int | None,
                offset: int | None) -> kafka.Headers:
    """Where a dead letter came from and which rules it broke: names and numbers only,
    never a value of the message."""
    headers: kafka.Headers = [
        (DLQ_CLASS, "esteira.quality.Expectation"),
        (DLQ_MESSAGE, f"regras violadas: {rule}"),
        (DLQ_RULE, rule),
    ]
    if topic is not None:
        headers += [(DLQ_TOPIC, topic), (DLQ_PARTITION, str(partition)),
                    (DLQ_OFFSET, str(offset))]
    return headers


def send_dead_letters(bootstrap: str, topic: str, rejects: pa.Table,
                      only: set[tuple[int, int]]) -> int:
    """Each rejected record among `only` (partition, offset) to the DLQ topic: its
    original key and value, untouched."""
    records = ((r["chave"], r["valor"],
                dlq_headers(r["regra"], r["topico"], r["particao"], r["offset"]))
               for r in rejects.to_pylist() if (r["particao"], r["offset"]) in only)
    return kafka.produce_with_headers(bootstrap, topic, records)


def known_cities() -> frozenset[str]:
    """The `transforms.city_key` (UF, folded city name) of every place `esteira.brazil`
    knows."""
    return frozenset(transforms.city_key(c.uf, fold(c.name)) for c in cities())


def read_topic(session: SparkSession, bootstrap: str, cfg: OrdersSettings) -> DataFrame:
    """The orders topic as a stream. Its 3 partitions on 2 cores would run as 2 tasks and
    then 1 (a core idle half the time): each partition is split into one range per core."""
    tasks = cfg.min_read_tasks or cfg.partitions * (os.cpu_count() or 1)
    return kafka.read_stream(session, bootstrap, cfg.topic, cfg.starting_offsets,
                             cfg.max_offsets_per_trigger, min_partitions=tasks)


def write_batches(records: DataFrame, body, checkpoint: Path, trigger_seconds: float):
    """The consuming query: each micro-batch of Kafka records goes to `body(df, id)`."""
    writer = (records.writeStream.queryName("orders").foreachBatch(body)
              .option("checkpointLocation", str(checkpoint)))
    if trigger_seconds > 0:
        writer = writer.trigger(processingTime=f"{trigger_seconds} seconds")
    return writer.start()


def read_export(session: SparkSession, path: Path, cfg: OrdersSettings) -> DataFrame:
    """An export file (CSV, header, any column order/case/aliases) as canonical text
    columns; the delimiter is guessed from the header (`,` or `;`)."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
    delimiter = ";" if header.count(";") > header.count(",") else ","
    raw = files.read_table(session, path, fmt="csv", options={"sep": delimiter},
                           name=str(path))
    return transforms.canonical_frame(raw, cfg.columns, str(path))
