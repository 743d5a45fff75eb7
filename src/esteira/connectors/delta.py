"""Delta Lake tables on paths: atomic writes, made idempotent by transaction id.

Every write is one Delta commit, so a reader sees all of it or none of it, and a killed
run leaves the table at its last version. A write that names a `Txn` (txnAppId,
txnVersion) is skipped by Delta when that application already committed that version:
a micro-batch or a step replayed after a crash writes nothing twice. The commit may
carry `metadata` (userMetadata): a small JSON text read back by `commit_metadata`, so
that a stream keeps its own progress (a watermark) in the table it writes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pyspark.sql import DataFrame, SparkSession

TXN_APP = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


@dataclass(frozen=True)
class Txn:
    """A writer's identity and the step it is writing: Delta commits each pair once."""

    app_id: str
    version: int


def exists(path: str | Path) -> bool:
    """A Delta table with at least one commit (a crash can leave an empty _delta_log)."""
    log_dir = Path(path) / "_delta_log"
    return log_dir.is_dir() and next(log_dir.glob("*.json"), None) is not None


def read(session: SparkSession, path: str | Path) -> DataFrame:
    return session.read.format("delta").load(str(path))


def read_or_none(session: SparkSession, path: str | Path) -> DataFrame | None:
    return read(session, path) if exists(path) else None


def write(
    df: DataFrame,
    path: str | Path,
    *,
    mode: Literal["overwrite", "append"] = "overwrite",
    partition_by: list[str] | None = None,
    replace_where: str | None = None,
    txn: Txn | None = None,
    metadata: str | None = None,
) -> None:
    """Writes a table in one commit: overwrite (the schema too), append, or overwrite of
    only the rows matching `replace_where`. Earlier versions stay in its history."""
    writer = df.write.format("delta").mode(mode)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if replace_where:
        writer = writer.option("replaceWhere", replace_where)
    elif mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    if txn is not None:
        writer = writer.option("txnAppId", txn.app_id).option("txnVersion", str(txn.version))
    if metadata is not None:
        writer = writer.option("userMetadata", metadata)
    writer.save(str(path))


def append(
    df: DataFrame,
    path: str | Path,
    partition_by: list[str] | None = None,
    txn: Txn | None = None,
    metadata: str | None = None,
) -> None:
    """An append; with `txn`, skipped by Delta when that (app, version) is committed."""
    write(df, path, mode="append", partition_by=partition_by, txn=txn, metadata=metadata)


def replace_where(
    df: DataFrame,
    path: str | Path,
    condition: str,
    partition_by: list[str] | None = None,
    txn: Txn | None = None,
    metadata: str | None = None,
) -> None:
    """Replaces the rows matching `condition` (e.g. one load date); creates the table
    when it does not exist yet."""
    if not exists(path):
        write(df, path, partition_by=partition_by, txn=txn, metadata=metadata)
        return
    write(df, path, partition_by=partition_by, replace_where=condition, txn=txn,
          metadata=metadata)


def merge(
    session: SparkSession,
    path: str | Path,
    source: DataFrame,
    condition: str,
    *,
    update: dict[str, str] | None = None,
    insert_all: bool = True,
    txn: Txn | None = None,
    metadata: str | None = None,
) -> None:
    """MERGE `source` (alias s) into the table (alias t) in one commit: matched rows take
    `update` (target column -> SQL expression), unmatched source rows are inserted.

    DeltaTable's merge takes no writer options, so the transaction id and metadata are
    session settings for the length of the call.
    """
    from delta.tables import DeltaTable

    builder = DeltaTable.forPath(session, str(path)).alias("t").merge(
        source.alias("s"), condition)
    if update:
        builder = builder.whenMatchedUpdate(set=update)
    if insert_all:
        builder = builder.whenNotMatchedInsertAll()
    conf = {}
    if txn is not None:
        conf = {TXN_APP: txn.app_id, TXN_VERSION: str(txn.version)}
    if metadata is not None:
        conf[USER_METADATA] = metadata
    for key, value in conf.items():
        session.conf.set(key, value)
    try:
        builder.execute()
    finally:
        for key in conf:
            session.conf.unset(key)


def partition_columns(session: SparkSession, path: str | Path) -> list[str]:
    from delta.tables import DeltaTable

    return list(DeltaTable.forPath(session, str(path)).detail().first()["partitionColumns"])


def commit_metadata(session: SparkSession, path: str | Path) -> list[dict[str, Any]]:
    """The JSON userMetadata of every commit that has some, newest first."""
    if not exists(path):
        return []
    from delta.tables import DeltaTable

    found = []
    history = DeltaTable.forPath(session, str(path)).history().select("userMetadata")
    for row in history.collect():
        try:
            meta = json.loads(row["userMetadata"] or "")
        except ValueError:
            continue
        if isinstance(meta, dict):
            found.append(meta)
    return found


def stable_app_id(folder: str | Path, prefix: str) -> str:
    """A txnAppId kept in `folder` (a stream's checkpoint): a new checkpoint restarts
    batch ids at 0, so it gets a new id and its writes are not mistaken for replays."""
    marker = Path(folder) / "esteira_app_id"
    if not marker.is_file():
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(f"{prefix}-{uuid.uuid4().hex}", encoding="utf-8")
        tmp.replace(marker)
    return marker.read_text(encoding="utf-8").strip()
