"""The warehouse as Delta tables (`warehouse.target: delta`, a lakehouse on Databricks).

The same changes as on PostgreSQL, applied per table in one commit each: MERGE INTO for
upserts (the `_acao` frames of transforms), overwrite for whole tables. Delta has no
transaction across tables, so the marks are made safe to lose instead: raw_movimento's
high-water mark is the largest atualizado_em inside raw_movimento itself (it moves in the
same commit as the rows), and every other step recomputes the same changes when rerun
(a MERGE of rows already applied changes nothing).
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors import delta
from esteira.errors import EsteiraError, InputError, QualityError
from esteira.warehouse.io import Check, FactInputs, Mark, Write
from esteira.warehouse.schemas import CONTROL, KEYS, SMALL_TABLES

_DIM_SCHEMAS = {
    "dim_associado": "sk_associado bigint, id_associado bigint, nome string, sobrenome string, "
    "email string, idade int, estado_civil string, escolaridade string, valid_from timestamp, "
    "valid_to timestamp, atual boolean, carregado_em timestamp",
    "dim_conta": "sk_conta bigint, id_conta bigint, tipo string, data_criacao timestamp, "
    "id_associado bigint, carregado_em timestamp",
    "dim_cartao": "sk_cartao bigint, id_cartao bigint, num_cartao string, nom_impresso string, "
    "data_criacao timestamp, id_conta bigint, id_associado bigint, carregado_em timestamp",
    "fato_movimentacao_cartao": "id_movimento bigint, sk_associado bigint, sk_conta bigint, "
    "sk_cartao bigint, sk_data int, vlr_transacao decimal(10,2), des_transacao string, "
    "data_movimento timestamp, data_hora_atualizacao_registro timestamp",
}
_CONTROL_SCHEMA = ("tabela string, high_water_mark timestamp, ultima_carga timestamp, "
                   "linhas bigint")


class DeltaTarget:
    name = "delta"

    def __init__(self, session: SparkSession, root: Path) -> None:
        self.session, self.root = session, Path(root)

    def path(self, table: str) -> Path:
        return self.root / table

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One run at a time per warehouse: an exclusive lock on a file in its folder
        (released by the system when the process ends, however it does)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".run.lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise EsteiraError(f"another warehouse run is loading {self.root}; run again "
                                   "when it ends") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def prepare(self, unknown: int, open_end: datetime, first_from: datetime) -> None:
        """Dimensions (with their unknown member) and the fact table, when missing."""
        unknown_rows = {
            "dim_associado": [(unknown, unknown, "Desconhecido", None, None, None, None, None,
                               first_from, open_end, True, None)],
            "dim_conta": [(unknown, unknown, "Desconhecido", None, None, None)],
            "dim_cartao": [(unknown, unknown, None, "DESCONHECIDO", None, None, None, None)],
            "fato_movimentacao_cartao": [],
        }
        for table, rows in unknown_rows.items():
            if not delta.exists(self.path(table)):
                frame = self.session.createDataFrame(rows, _DIM_SCHEMAS[table])
                delta.write(frame, self.path(table))

    def reset(self) -> None:
        """Removes every warehouse table (not while a run holds the warehouse): the next
        run is a full load."""
        import shutil

        with self.exclusive():
            shutil.rmtree(self.root, ignore_errors=True)

    def read(self, table: str) -> DataFrame:
        if not delta.exists(self.path(table)):
            raise InputError(f"warehouse table {table}", "does not exist yet: run the step "
                             "that loads it first")
        return delta.read(self.session, self.path(table))

    def marks(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        if delta.exists(self.path(CONTROL)):
            for row in self.read(CONTROL).collect():
                found[row["tabela"]] = row.asDict()
        if delta.exists(self.path("raw_movimento")):  # moves with the rows, in one commit
            found.setdefault("raw_movimento", {})["high_water_mark"] = self.latest(
                "raw_movimento", "atualizado_em")
        return found

    def counts(self, tables: list[str]) -> dict[str, int | None]:
        return {t: self.read(t).count() if delta.exists(self.path(t)) else None for t in tables}

    def latest(self, table: str, column: str) -> datetime | None:
        if not delta.exists(self.path(table)):
            return None
        return self.read(table).agg(F.max(column)).collect()[0][0]

    def trusted_pending(self, entity: str) -> None:
        """None: on Delta, trusted cleans the small tables whole every run."""
        return None

    def raw_rows(self, entity: str, ids: list[int] | None) -> DataFrame:
        """raw_<entity>: whole, or the rows of `ids` and those without an id."""
        frame = self.read(f"raw_{entity}")
        return frame if ids is None else frame.filter(F.col("id").isNull()
                                                      | F.col("id").isin(ids))

    def raw_movements(self, after: datetime | None, upto: datetime | None) -> DataFrame:
        return self.read("raw_movimento").filter(_between("ingerido_em", after, upto))

    def fact_inputs(self, after: datetime | None, upto: datetime | None) -> FactInputs:
        """As PostgresTarget.fact_inputs: loaded movements, those of associados whose
        versions changed since `after` and those on an unknown member; their facts; the
        whole dimensions."""
        trusted = self.read("trusted_movimento")
        facts = self.read("fato_movimentacao_cartao")
        where = _between("carregado_em", after, upto)
        dims = (self.read("dim_cartao"), self.read("dim_conta"), self.read("dim_associado"))
        if after is None:
            return FactInputs(trusted.filter(where), facts, *dims)
        changed = self.read("dim_associado").filter(F.col("carregado_em") > F.lit(after))
        cards = self.read("trusted_cartao").join(
            changed.select(F.col("id_associado")).distinct(), "id_associado", "left_semi"
        ).select(F.col("id").alias("id_cartao"))
        unknown = facts.filter((F.col("sk_cartao") < 0) | (F.col("sk_associado") < 0)
                               | (F.col("sk_conta") < 0)).select(F.col("id_movimento").alias("id"))
        movements = trusted.filter(where).unionByName(
            trusted.join(cards, "id_cartao", "left_semi")).unionByName(
            trusted.join(unknown, "id", "left_semi")).dropDuplicates(["id"])
        ids = movements.select(F.col("id").alias("id_movimento"))
        return FactInputs(movements, facts.join(ids, "id_movimento", "left_semi"), *dims)

    def scd2_inputs(self, unknown: int) -> tuple[DataFrame, DataFrame, None]:
        """The whole dim_associado and trusted_associado (PostgresTarget narrows them)."""
        return self.read("dim_associado"), self.read("trusted_associado"), None

    def type1_inputs(self, entity: str, attrs: list[str],
                     unknown: int) -> tuple[DataFrame, DataFrame, None]:
        return self.read(f"dim_{entity}"), self.read(f"trusted_{entity}"), None

    def day_span(self, timezone: str, since: datetime | None = None) -> tuple[Any, Any]:
        """Every trusted movement's first and last local day (`since` is not used)."""
        local = F.to_date(F.from_utc_timestamp(F.col("data_movimento"), timezone))
        row = self.read("trusted_movimento").agg(F.min(local), F.max(local)).collect()[0]
        return row[0], row[1]

    def write_flat(self, path: Path, delimiter: str, encoding: str, timezone: str,
                   facts: DataFrame | None = None) -> int:
        """The flat file from the Delta tables (transforms.flat), atomically (`facts`,
        the facts this run loaded, is not used: the tables are read whole)."""
        from esteira.warehouse import io, transforms

        flat = transforms.flat(self.read("fato_movimentacao_cartao"), self.read("dim_associado"),
                               self.read("dim_cartao"), self.read("dim_conta"), timezone)
        return io.write_flat(flat, path, delimiter, encoding)

    def wrote_every_row(self, table: str) -> bool:
        """Never said on Delta (its MERGE does not count what it left out)."""
        return False

    def check_fact_total(self, changes: DataFrame, inserts: int) -> None:
        """Before the MERGE: the facts after it must number the trusted movements."""
        facts = self.read("fato_movimentacao_cartao").count()
        trusted = self.read("trusted_movimento").count()
        if facts + inserts != trusted:
            raise QualityError(f"fato_movimentacao_cartao: {facts + inserts} facts for "
                               f"{trusted} trusted movements; nothing written")

    def apply(self, writes: list[Write], marks: list[Mark], load_ts: datetime,
              check: Check | None = None) -> dict[str, int]:
        written: dict[str, int] = {}
        for w in writes:
            written[w.table] = self._write(w)
        self._set_marks(marks, load_ts, {w.table: w.frame for w in writes})
        return written

    def _write(self, w: Write) -> int:
        path = self.path(w.table)
        frame = w.frame.drop("_acao") if "_acao" in w.frame.columns else w.frame
        before = _commits(path)
        if w.mode in ("replace", "sync") or not delta.exists(path):
            delta.write(frame, path)
        elif w.mode == "append":
            delta.append(frame, path)
        elif w.mode == "replace_rejects":  # the small tables' rejects are replaced each run
            small = F.col("tabela").isin(*SMALL_TABLES)
            names = ", ".join(f"'{t}'" for t in SMALL_TABLES)
            delta.replace_where(frame.filter(small), path, f"tabela IN ({names})")
            delta.append(frame.filter(~small), path)
        else:
            self._merge(w, path)
        if _commits(path) == before:  # nothing to change: no commit
            return 0
        rows = _rows_committed(path)
        return w.frame.count() if rows is None else rows

    def _merge(self, w: Write, path: Path) -> None:
        view = f"_esteira_{uuid.uuid4().hex[:8]}"
        w.frame.createOrReplaceTempView(view)
        key = " AND ".join(f"t.{k} = s.{k}" for k in KEYS[w.table])
        columns = [c for c in w.frame.columns if c != "_acao"]
        sets = ", ".join(f"t.{c} = s.{c}" for c in columns)
        values = f"({', '.join(columns)}) VALUES ({', '.join('s.' + c for c in columns)})"
        if w.mode == "upsert":
            clauses = (f"WHEN MATCHED AND s._acao = 'U' THEN UPDATE SET {sets} "
                       f"WHEN NOT MATCHED AND s._acao = 'I' THEN INSERT {values}")
        elif w.mode == "newer":
            clauses = (f"WHEN MATCHED AND t.atualizado_em <= s.atualizado_em THEN UPDATE SET "
                       f"{sets} WHEN NOT MATCHED THEN INSERT {values}")
        else:  # missing
            clauses = f"WHEN NOT MATCHED THEN INSERT {values}"
        try:
            self.session.sql(
                f"MERGE INTO delta.`{path.resolve()}` t USING {view} s ON {key} {clauses}"
            ).collect()
        finally:
            self.session.catalog.dropTempView(view)

    def _set_marks(self, marks: list[Mark], load_ts: datetime,
                   frames: dict[str, DataFrame]) -> None:
        current = self.marks()
        for m in marks:
            value = m.high_water_mark
            if m.column is not None:
                value = frames[m.table].agg(F.max(m.column)).collect()[0][0]
            before = current.get(m.table, {}).get("high_water_mark")
            current[m.table] = {  # rows: `status` counts them (a job per table saved)
                "tabela": m.table, "high_water_mark": value or before, "ultima_carga": load_ts,
                "linhas": None,
            }
        rows = [(v.get("tabela", k), v.get("high_water_mark"), v.get("ultima_carga"),
                 v.get("linhas")) for k, v in current.items()]
        delta.write(self.session.createDataFrame(rows, _CONTROL_SCHEMA), self.path(CONTROL))


def _between(column: str, after: datetime | None, upto: datetime | None) -> Column:
    condition = F.lit(True)
    if after is not None:
        condition = condition & (F.col(column) > F.lit(after))
    if upto is not None:
        condition = condition & (F.col(column) <= F.lit(upto))
    return condition


def _commits(path: Path) -> int:
    return len(list((path / "_delta_log").glob("*.json")))


def _rows_committed(path: Path) -> int | None:
    """Rows the table's last commit wrote (inserted + updated), from its commitInfo's
    operationMetrics; None when the writer recorded none."""
    import json

    commits = sorted((path / "_delta_log").glob("*.json"))
    if not commits:
        return None
    for line in commits[-1].read_text(encoding="utf-8").splitlines():
        info = json.loads(line).get("commitInfo")
        metrics = (info or {}).get("operationMetrics") or {}
        if "numTargetRowsInserted" in metrics:
            return sum(int(metrics.get(k, 0)) for k in
                       ("numTargetRowsInserted", "numTargetRowsUpdated"))
        if "numOutputRows" in metrics:
            return int(metrics["numOutputRows"])
    return None
