"""The orders consumer (Kafka -> validated, versioned rows in PostgreSQL) and the export check.

`consume`: one Structured Streaming query (JVM Spark: Sail has no Kafka source),
checkpointed; the stream is parsed, normalised and checked against the rules in config
(planned once, stateless), each micro-batch collected once (Arrow), only the newest event
per order kept (on the Arrow table), and written by `io.write_batch` in one PostgreSQL
transaction with the batch's marker (see esteira.orders.io for why a replay or a SIGKILL
changes nothing). Dropped records go to the dead-letter topic and the rejects table; a
batch whose rejected share passes the platform's threshold (`alerts.threshold`, the one
the run's webhook alert uses too) logs an alert line and counts in the run log.
`check`: the same normalisation and rules on an export file, on either engine, without
writing anything.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession

from esteira import endpoints, streaming
from esteira.connectors import delta, kafka_topics
from esteira.errors import ConfigError, EngineError, InputError
from esteira.orders import io, transforms
from esteira.orders.config import OrdersSettings
from esteira.orders.schemas import PEDIDOS_COLUMNS
from esteira.quality import Expectation, QualityReport, measure, rule_column
from esteira.runlog import Run, track_run
from esteira.settings import Settings

log = logging.getLogger(__name__)
PIPELINE, SOURCE = "orders.consume", "orders"  # run log: pipeline and quality source
ALERT_RULE = f"{SOURCE}.lotes_acima_do_limite_de_rejeicao"


@dataclass(frozen=True)
class ConsumeRequest:
    until_idle: float | None = None  # seconds without input before stopping; None: never

    @classmethod
    def parse(cls, until_idle: float | None) -> ConsumeRequest:
        if until_idle is not None and until_idle <= 0:
            raise ConfigError("--until-idle must be a positive duration")
        return cls(until_idle)


@dataclass
class ConsumeResult:
    """What this run's batches did (a replayed batch is counted in `replayed` only)."""

    quality: QualityReport
    batches: int = 0
    records: int = 0
    written: int = 0  # newest events per order handed to the upsert
    replayed: int = 0
    alerts: int = 0
    alert_batches: list[int] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return self.quality.rejected


def require_spark(settings: Settings) -> None:
    """Streaming from Kafka needs JVM Spark: say so before any work starts."""
    if settings.engine != "spark":
        raise EngineError(
            f"the orders consumer runs on the JVM engine only (Kafka source); engine "
            f"{settings.engine!r} has none: use `esteira --engine spark orders consume`")


def consume(settings: Settings, session: SparkSession, request: ConsumeRequest) -> ConsumeResult:
    """Runs the consumer; with `until_idle`, stops after that many seconds without input."""
    require_spark(settings)
    cfg = settings.orders
    bootstrap = endpoints.kafka_bootstrap(settings)
    dsn = endpoints.postgres_dsn(settings)
    kafka_topics.ensure_topic(bootstrap, cfg.topic, cfg.partitions)
    kafka_topics.ensure_topic(bootstrap, cfg.dlq_topic, 1)
    t = io.ensure_tables(dsn, cfg)
    checkpoint = cfg.folder(settings.home).resolve() / "checkpoint"
    app_id = delta.stable_app_id(checkpoint, "esteira-orders")
    streaming.configure(session, **{"spark.sql.shuffle.partitions": "2"})
    body = MicroBatch(cfg, dsn, bootstrap, t, app_id,
                      settings.alerts.threshold(PIPELINE, SOURCE))
    known = io.known_cities()

    def start():
        # parsing and the rules are planned once, on the stream (stateless: no shuffle);
        # each micro-batch then only collects `batch_outcome` and writes it
        outcome = transforms.batch_outcome(transforms.flag(transforms.normalise(
            transforms.parse_messages(io.read_topic(session, bootstrap, cfg)), cfg), known,
            body.rules), body.rules)
        return io.write_batches(outcome, body, checkpoint, cfg.trigger_seconds)

    def on_progress(_i: int, progress) -> None:
        body.result.records += progress.get("numInputRows", 0)
        spent = progress.get("durationMs") or {}
        log.info("batch %s trigger ms: %s", progress.get("batchId"),
                 ", ".join(f"{k} {v}" for k, v in sorted(spent.items())))

    with track_run(settings.runs_file, PIPELINE, settings.engine) as run_rec:
        log.info("consuming topic %s -> PostgreSQL %s (checkpoint %s)", cfg.topic, t.pedidos,
                 checkpoint)
        try:
            streaming.run_queries([start], until_idle=request.until_idle,
                                  on_progress=on_progress, name="orders consumer")
        finally:
            _record(run_rec, body.result, body.alert_share)
    return body.result


def _record(run_rec: Run, result: ConsumeResult, threshold: float) -> None:
    run_rec.inputs["kafka"] = result.records
    run_rec.outputs["pedidos"] = result.written
    run_rec.outputs["rejeitados"] = result.rejected
    run_rec.record_quality(SOURCE, result.quality)
    run_rec.rules[ALERT_RULE] = {"action": "alert", "failed": result.alerts,
                                 "threshold": threshold}


class MicroBatch:
    """One micro-batch (the foreachBatch body): exactly once through the batch marker."""

    def __init__(self, cfg: OrdersSettings, dsn: str, bootstrap: str, t: io.Tables,
                 app_id: str, alert_share: float) -> None:
        self.cfg, self.dsn, self.bootstrap, self.t = cfg, dsn, bootstrap, t
        self.app_id, self.alert_share = app_id, alert_share
        self.rules = transforms.validation_rules(cfg)
        self.result = ConsumeResult(quality=QualityReport.from_counts(self.rules, {}))

    def __call__(self, outcome: DataFrame, batch_id: int) -> None:
        """`outcome`: the micro-batch's records through `transforms.batch_outcome`."""
        state = io.batch_state(self.dsn, self.t, self.app_id, batch_id)
        if state == "done":
            log.info("batch %d was already written: replay skipped", batch_id)
            self.result.replayed += 1
            return
        clock = [time.perf_counter()]
        table = outcome.toArrow()  # the batch's only Spark action
        clock.append(time.perf_counter())
        if table.num_rows == 0:
            return
        report = _report(table, self.rules)
        report.raise_on_fail(f"topic {self.cfg.topic}, batch {batch_id}")
        pedidos = transforms.newest_per_order(table).select(list(PEDIDOS_COLUMNS))
        rejects = _rejects(table.filter(table["_rejeitado"]), batch_id)
        clock.append(time.perf_counter())
        stored = None
        if state is None:
            stored = io.write_batch(self.dsn, self.t, self.app_id, batch_id, pedidos, rejects,
                                    table.num_rows)
        if stored is None:  # written by a run killed before its dead letters were confirmed
            stored = io.stored_rejects(self.dsn, self.t, self.app_id, batch_id)
        clock.append(time.perf_counter())
        if stored:
            io.send_dead_letters(self.bootstrap, self.cfg.dlq_topic, rejects, stored)
        io.mark_dlq_sent(self.dsn, self.t, self.app_id, batch_id)
        clock.append(time.perf_counter())
        self._count(batch_id, report, pedidos.num_rows)
        log.info("batch %d times: spark read+validate+collect %.2fs, arrow %.2fs, "
                 "postgres %.2fs, dlq %.2fs", batch_id,
                 *(b - a for a, b in itertools.pairwise(clock)))

    def _count(self, batch_id: int, report: QualityReport, written: int) -> None:
        res = self.result
        res.batches += 1
        res.written += written
        res.quality = res.quality.merge(report)
        share = report.rejected / report.rows if report.rows else 0.0
        if share > self.alert_share:
            res.alerts += 1
            res.alert_batches.append(batch_id)
            log.warning("ALERTA: lote %d rejeitou %d de %d registros (%.1f%%), acima do limite "
                        "de %.1f%%", batch_id, report.rejected, report.rows, share * 100,
                        self.alert_share * 100)
        log.info("batch %d: %d records, %d orders upserted, %d rejected", batch_id,
                 report.rows, written, report.rejected)


def _report(table: pa.Table, rules: list[Expectation]) -> QualityReport:
    """Failures per rule counted from the collected batch (one pass, no second query)."""
    broken = pc.value_counts(pc.list_flatten(table["_dq_failed"])).to_pylist()
    per_rule = {item["values"]: item["counts"] for item in broken}
    counts = {rule_column(i): per_rule.get(r.name, 0) for i, r in enumerate(rules)}
    rejected = pc.sum(table["_rejeitado"].cast(pa.int64())).as_py() or 0
    return QualityReport.from_counts(rules, {"_rows": table.num_rows, "_rejected": rejected,
                                             **counts})


def _rejects(rows: pa.Table, batch_id: int) -> pa.Table:
    return pa.table({
        "topico": rows["kafka_topico"], "particao": rows["kafka_particao"],
        "offset": rows["kafka_offset"], "regra": rows["regra"], "chave": rows["chave"],
        "valor": rows["valor"], "recebido_em": rows["recebido_em"],
        "lote": pa.array([batch_id] * rows.num_rows, pa.int64()),
    })


@dataclass(frozen=True)
class CheckRequest:
    export: Path

    @classmethod
    def parse(cls, export: Path) -> CheckRequest:
        if not export.is_file():
            raise ConfigError(f"{export}: no such file")
        return cls(export)


def check(settings: Settings, session: SparkSession, request: CheckRequest) -> QualityReport:
    """An export checked without writing: normalised and measured against the rules."""
    cfg = settings.orders
    rules = transforms.validation_rules(cfg)
    with track_run(settings.runs_file, "orders.check", settings.engine) as run_rec:
        canonical = io.read_export(session, request.export, cfg)
        records = transforms.export_records(canonical)
        flagged = transforms.flag(transforms.normalise(records, cfg), io.known_cities(),
                                  rules)
        try:
            report = measure(flagged, rules)
        except Exception as exc:  # Sail's CSV reader stops at a row of the wrong width
            raise _unreadable_row(request.export, exc) from None
        run_rec.inputs["export"] = report.rows
        run_rec.record_quality("orders", report)
    return report


_CSV_WIDTH = re.compile(r"incorrect number of fields for line (\d+), expected (\d+) got (\d+)")


def _unreadable_row(path: Path, exc: Exception) -> Exception:
    """A row whose field count differs from the header's, named by its line (Sail stops
    there; JVM Spark reads it permissively and the rules flag it). Only the numbers of
    the engine's message are kept: its text may quote the row."""
    found = _CSV_WIDTH.search(str(exc))
    if found is None:
        return InputError(str(path), f"cannot be read as CSV ({type(exc).__name__})")
    line, expected, got = found.groups()
    return InputError(str(path), f"line {line}: {got} fields, the header has {expected}")
