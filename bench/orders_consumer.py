"""Benchmark: the seed's consumer and ours, side by side on one topic and one database.

The seed's consumer (its repository's kafka_consumer.py, reproduced): a plain
confluent-kafka consumer, json.loads per message, executemany upserts in batches of
1,000 (INSERT ... ON CONFLICT (pedido_id) DO UPDATE), offsets committed per batch; no
validation, no versions, no dead letters. Ours: `esteira --engine spark orders consume`
(Structured Streaming, validation, versioned COPY + upsert per micro-batch, DLQ,
markers), in a child process.

(a) end to end: N orders (default 50,000) from the CSV to rows in PostgreSQL: the
    producer's time (once, shared: both read the same topic) + the consumer's time from
    its start (ours: process start, JVM included) until the table holds N rows.
(b) sustained upsert rate on M orders (quick 200,000; --full 1,000,000): rows per second
    from the first rows visible to the last (ours: polled COUNT(*), so the first
    micro-batch's rows are left out of the count and its time).
Each side reads the topic from the start into a fresh schema, --repeat times (cold JVM
each time; broker and PostgreSQL warm); medians and min-max. Checks: each run's table
holds exactly the expected distinct orders, and every status equals the CSV's.

    .venv/bin/python bench/orders_consumer.py              # quick
    .venv/bin/python bench/orders_consumer.py --full       # 1,000,000 for (b)
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from common import base_parser, check, spread
from confluent_kafka import Consumer

from esteira import endpoints
from esteira.connectors import kafka
from esteira.datagen.orders import write_orders
from esteira.orders.produce import ProduceRequest, produce
from esteira.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
SEED_DDL = """CREATE TABLE {t} (pedido_id text PRIMARY KEY, data_pedido text, cliente_id text,
 produto_id text, categoria text, qtde integer, preco_unitario numeric, valor_total numeric,
 uf text, cidade text, canal_venda text, status_pedido text)"""
SEED_COLUMNS = ("pedido_id", "data_pedido", "cliente_id", "produto_id", "categoria", "qtde",
                "preco_unitario", "valor_total", "uf", "cidade", "canal_venda", "status_pedido")


def seed_consumer(bootstrap: str, topic: str, dsn: str, schema: str, expected: int) -> dict:
    """The seed's loop: poll, parse, executemany 1,000 at a time, commit."""
    table = f"{schema}.pedidos"
    cols = ", ".join(SEED_COLUMNS)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in SEED_COLUMNS[1:])
    upsert = (f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(SEED_COLUMNS))}) "
              f"ON CONFLICT (pedido_id) DO UPDATE SET {sets}")
    start = time.perf_counter()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"seed-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen, batch = 0, []
    with psycopg.connect(dsn) as conn:
        conn.execute(SEED_DDL.format(t=table))
        conn.commit()
        while seen < expected:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            row = json.loads(msg.value())
            batch.append(tuple(row.get(c) for c in SEED_COLUMNS))
            seen += 1
            if len(batch) >= 1000 or seen == expected:
                conn.cursor().executemany(upsert, batch)
                conn.commit()
                consumer.commit(asynchronous=False)
                batch = []
    consumer.close()
    end = time.perf_counter()
    return {"seconds": end - start, "rate": expected / (end - start)}


def ours(env: dict[str, str], dsn: str, schema: str, expected: int, log: Path) -> dict:
    """Our consumer in a child process; timed by polling the table until N rows."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "esteira.cli", "--engine", "spark", "orders", "consume",
         "--until-idle", "3s"], env=env, cwd=REPO, stdout=log.open("ab"),
        stderr=subprocess.STDOUT)
    first_at = first_rows = None
    done = None
    with psycopg.connect(dsn, autocommit=True) as conn:
        while done is None:
            if proc.poll() is not None:
                break
            rows = _count(conn, f"{schema}.pedidos")
            now = time.perf_counter()
            if rows and first_at is None:
                first_at, first_rows = now, rows
            if rows >= expected:
                done = now
            time.sleep(0.05)
    code = proc.wait(timeout=600)
    check(code == 0 and done is not None, f"our consumer finished ({code}); see {log}")
    rate = (expected - first_rows) / (done - first_at) if done > first_at else float("nan")
    return {"seconds": done - start, "rate": rate}


def _count(conn, table: str) -> int:
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except psycopg.errors.UndefinedTable:
        return 0


def _expected(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as fh:
        return {r["pedido_id"]: r["status_pedido"] for r in csv.DictReader(fh)}


def _statuses(dsn: str, schema: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute(f"SELECT pedido_id, status_pedido FROM {schema}.pedidos"))


def measure(rows: int, repeat: int, work: Path, label: str) -> dict:
    settings = load_settings(home=REPO / ".esteira")
    bootstrap, dsn = endpoints.kafka_bootstrap(settings), endpoints.postgres_dsn(settings)
    export = work / f"pedidos_{rows}.csv"
    write_orders(export, rows, seed=11)
    expected = _expected(export)
    topic = f"bench-orders-{uuid.uuid4().hex[:8]}"
    cfg = settings.orders.model_copy(update={"topic": topic, "dlq_topic": f"{topic}.dlq"})
    started = time.perf_counter()
    produced = produce(bootstrap, cfg, ProduceRequest(export, topic), show_progress=False)
    produce_s = time.perf_counter() - started
    check(produced.delivered == rows, f"{rows:,} messages delivered")
    runs: dict[str, list[dict]] = {"seed": [], "ours": []}
    schemas = []
    try:
        for i in range(repeat):
            for side in ("seed", "ours"):
                schema = f"bench_{side}_{uuid.uuid4().hex[:8]}"
                schemas.append(schema)
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"CREATE SCHEMA {schema}")
                if side == "seed":
                    result = seed_consumer(bootstrap, topic, dsn, schema, rows)
                else:
                    env = {k: v for k, v in os.environ.items()
                           if not k.startswith("SPARK_CONNECT")}
                    env.update({"ESTEIRA_HOME": str(REPO / ".esteira"),
                                "ESTEIRA_ORDERS__TOPIC": topic,
                                "ESTEIRA_ORDERS__DLQ_TOPIC": f"{topic}.dlq",
                                "ESTEIRA_ORDERS__PG_SCHEMA": schema,
                                "ESTEIRA_ORDERS__ROOT": str(work / f"ours-{i}-{rows}"),
                                # five micro-batches: the rate is timed from the first
                                "ESTEIRA_ORDERS__MAX_OFFSETS_PER_TRIGGER": str(
                                    max(rows // 5, 10_000))})
                    log = REPO / ".esteira" / "bench" / "orders_consumer_ours.log"
                    log.parent.mkdir(parents=True, exist_ok=True)
                    result = ours(env, dsn, schema, rows, log)
                check(_statuses(dsn, schema) == expected,
                      f"{side} run {i + 1}: {rows:,} orders, every status as in the CSV")
                runs[side].append(result)
                print(f"  {label} run {i + 1} {side}: {result['seconds']:.1f} s, "
                      f"{result['rate']:,.0f} rows/s", flush=True)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        kafka.delete_topics(bootstrap, [topic, f"{topic}.dlq"])
    return {"produce_s": produce_s, **runs}


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--end-to-end-rows", type=int, default=50_000)
    parser.add_argument("--parts", default="a,b", help="a (end to end), b (sustained) or both")
    args = parser.parse_args()
    sustained_rows = 1_000_000 if args.full else 200_000
    repeat = max(args.repeat, 1)
    work = Path(tempfile.mkdtemp(prefix="bench-orders-"))
    try:
        if "a" in args.parts:
            print(f"(a) end to end, {args.end_to_end_rows:,} orders; cold JVM per run of "
                  f"ours; broker and PostgreSQL warm; n={repeat}")
            a = measure(args.end_to_end_rows, repeat, work, "(a)")
            for side in ("seed", "ours"):
                totals = [a["produce_s"] + r["seconds"] for r in a[side]]
                print(f"  {side}: CSV -> rows {spread(totals)} (produce {a['produce_s']:.1f} s"
                      f" + consume {spread([r['seconds'] for r in a[side]])})")
        if "b" in args.parts:
            print(f"(b) sustained upserts, {sustained_rows:,} orders (ours: 5 micro-batches, "
                  f"the first left out); n={repeat}")
            b = measure(sustained_rows, repeat, work, "(b)")
            for side in ("seed", "ours"):
                print(f"  {side}: {spread([r['rate'] for r in b[side]], 'rows/s', 0)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
