"""Benchmark: the seed's consumer and ours, side by side on one topic and one database.

The seed's consumer (its repository's kafka_consumer.py, reproduced): a plain
confluent-kafka consumer, json.loads per message, executemany upserts in batches of
1,000 (INSERT ... ON CONFLICT (pedido_id) DO UPDATE), offsets committed per batch; no
validation, no versions, no dead letters. Ours: `esteira --engine spark orders consume`
(Structured Streaming, validation, versioned COPY + upsert per micro-batch, DLQ,
markers), in a child process.

(a) end to end: N orders (default 50,000) from the CSV to rows in PostgreSQL: the
    producer's time (once, shared: both read the same topic) + the consumer's time from
    its start (ours: process start, JVM included, default micro-batch size) until all N
    orders are committed.
(b) sustained upsert rate on M orders (quick 200,000; --full 1,000,000): both sides
    timed the same way, rows per second from their first commit to their last, the rows
    of that first commit left out (the seed: its first 1,000 rows, committed 0.3 s after
    its start; ours: its first micro-batch, min(M/5, orders.max_offsets_per_trigger)
    records, which carries the JVM's start and the first plan's compilation). The rate
    from each side's start is printed too. Ours is followed through its batch markers
    (cheap), not COUNT(*) over the growing table (which took a core from the consumer).
Each side reads the topic from the start into a fresh schema, --repeat times (cold JVM
each time; broker and PostgreSQL warm); medians and min-max, with the load average at
each run (the machine is shared). Checks: each run's table holds exactly the expected
distinct orders, and every status equals the CSV's.

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

import psutil
import psycopg
from common import base_parser, check, spread
from confluent_kafka import Consumer

from esteira import endpoints
from esteira.connectors import kafka_topics
from esteira.datagen.orders import write_orders
from esteira.orders.config import OrdersSettings
from esteira.orders.produce import ProduceRequest, produce
from esteira.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BATCH = OrdersSettings().max_offsets_per_trigger or 200_000
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
    start, cpu_start = time.perf_counter(), time.process_time()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"seed-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen, batch = 0, []
    first_at = first_rows = None
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
                if first_at is None:
                    first_at, first_rows = time.perf_counter(), seen
    consumer.close()
    end = time.perf_counter()
    return {"seconds": end - start, "whole_rate": expected / (end - start),
            "rate": _rate(expected - first_rows, end - first_at),
            "cpu": time.process_time() - cpu_start}


def ours(env: dict[str, str], dsn: str, schema: str, expected: int, log: Path) -> dict:
    """Our consumer in a child process, timed from its start (JVM included) until the
    rows of all N orders are committed. Progress is read from the batch markers
    (`pedidos_lotes`: one row per committed batch, with the rows it upserted), not by
    COUNT(*) over `pedidos`: counting a table of up to 1,000,000 rows 20 times a second
    kept one of the machine's 2 cores busy and slowed the consumer it measured. The table
    itself is checked row by row afterwards."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "esteira.cli", "--engine", "spark", "orders", "consume",
         "--until-idle", "3s"], env=env, cwd=REPO, stdout=log.open("ab"),
        stderr=subprocess.STDOUT)
    first_at = first_rows = None
    done, cpu = None, 0.0
    with psycopg.connect(dsn, autocommit=True) as conn:
        while done is None:
            if proc.poll() is not None:
                break
            rows = _committed(conn, f"{schema}.pedidos_lotes")
            now = time.perf_counter()
            cpu = _tree_cpu(proc.pid) or cpu
            if rows and first_at is None:
                first_at, first_rows = now, rows
            if rows >= expected:
                done = now
            time.sleep(0.05)
    code = proc.wait(timeout=600)
    check(code == 0 and done is not None, f"our consumer finished ({code}); see {log}")
    return {"seconds": done - start, "whole_rate": expected / (done - start),
            "rate": _rate(expected - first_rows, done - first_at), "cpu": cpu}


def _tree_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a process and its children (our consumer's JVM)."""
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
        return sum(sum(p.cpu_times()[:2]) for p in procs)
    except psutil.Error:
        return None


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if rows > 0 and seconds > 0 else float("nan")


def _committed(conn, markers: str) -> int:
    try:
        return conn.execute(f"SELECT coalesce(sum(gravados), 0) FROM {markers}").fetchone()[0]
    except psycopg.errors.UndefinedTable:
        return 0


def _expected(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as fh:
        return {r["pedido_id"]: r["status_pedido"] for r in csv.DictReader(fh)}


def _statuses(dsn: str, schema: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute(f"SELECT pedido_id, status_pedido FROM {schema}.pedidos"))


def measure(rows: int, repeat: int, work: Path, label: str,
            batch: int | None = None) -> dict:
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
                                "ESTEIRA_ORDERS__ROOT": str(work / f"ours-{i}-{rows}")})
                    if batch:
                        env["ESTEIRA_ORDERS__MAX_OFFSETS_PER_TRIGGER"] = str(batch)
                    log = REPO / ".esteira" / "bench" / "orders_consumer_ours.log"
                    log.parent.mkdir(parents=True, exist_ok=True)
                    result = ours(env, dsn, schema, rows, log)
                check(_statuses(dsn, schema) == expected,
                      f"{side} run {i + 1}: {rows:,} orders, every status as in the CSV")
                runs[side].append(result)
                print(f"  {label} run {i + 1} {side}: {result['seconds']:.1f} s "
                      f"({result['whole_rate']:,.0f} rows/s from its start), sustained "
                      f"{result['rate']:,.0f} rows/s, consumer CPU "
                      f"{result['cpu'] / rows * 100_000:.1f} s per 100k rows (load "
                      f"{os.getloadavg()[0]:.1f})", flush=True)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        kafka_topics.delete_topics(bootstrap, [topic, f"{topic}.dlq"])
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
            a = measure(args.end_to_end_rows, repeat, work, "(a)")  # ours: default batch
            for side in ("seed", "ours"):
                totals = [a["produce_s"] + r["seconds"] for r in a[side]]
                print(f"  {side}: CSV -> rows {spread(totals)} (produce {a['produce_s']:.1f} s"
                      f" + consume {spread([r['seconds'] for r in a[side]])})")
        if "b" in args.parts:
            batch = min(sustained_rows // 5, DEFAULT_BATCH)
            print(f"(b) sustained upserts, {sustained_rows:,} orders (ours: micro-batches of "
                  f"{batch:,}); rows/s from the first commit to the last, the rows of the "
                  f"first commit left out (seed: its first 1,000; ours: its first "
                  f"micro-batch); n={repeat}")
            b = measure(sustained_rows, repeat, work, "(b)", batch)
            for side in ("seed", "ours"):
                print(f"  {side}: sustained {spread([r['rate'] for r in b[side]], 'rows/s', 0)}"
                      f"; from its start {spread([r['whole_rate'] for r in b[side]], 'rows/s', 0)}"
                      f"; consumer CPU per 100k rows (whole run; PostgreSQL's not counted) "
                      f"{spread([r['cpu'] / sustained_rows * 1e5 for r in b[side]], 's', 1)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
