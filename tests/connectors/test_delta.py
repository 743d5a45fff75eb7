"""Delta writes made idempotent by transaction id, on the engine under test."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from esteira.connectors import delta


def _versions(path) -> int:
    return len(list((path / "_delta_log").glob("*.json")))


def test_an_empty_log_is_no_table(tmp_path):
    (tmp_path / "t" / "_delta_log").mkdir(parents=True)
    assert not delta.exists(tmp_path / "t")
    assert not delta.exists(tmp_path / "missing")


def test_replace_where_creates_then_replaces_only_matching_rows(spark, tmp_path):
    path = tmp_path / "t"
    day1 = spark.createDataFrame([("2024-01-01", 1), ("2024-01-02", 2)], "d string, n int")
    delta.replace_where(day1, path, "d = '2024-01-02'", partition_by=["d"])
    again = spark.createDataFrame([("2024-01-02", 20)], "d string, n int")
    delta.replace_where(again, path, "d = '2024-01-02'", partition_by=["d"])
    assertDataFrameEqual(delta.read(spark, path).select("d", "n"), [Row(d="2024-01-01", n=1),
                                                               Row(d="2024-01-02", n=20)])


def test_a_replayed_append_and_merge_write_nothing_twice(spark, engine, tmp_path):
    if engine == "sail":
        pytest.skip("txnAppId/txnVersion and MERGE are Delta's JVM writer features (streams)")
    path = tmp_path / "t"
    rows = spark.createDataFrame([("a", 1)], "k string, n int")
    meta = json.dumps({"batch_id": 0, "watermark": "2020-02-03T15:00:00+00:00"})
    delta.append(rows, path, txn=delta.Txn("app", 0), metadata=meta)
    delta.append(rows, path, txn=delta.Txn("app", 0), metadata=meta)  # the replay
    assert _versions(path) == 1
    increments = spark.createDataFrame([("a", 5), ("b", 2)], "k string, n int")
    for _ in range(2):  # the second is the replay of batch 1
        delta.merge(spark, path, increments, "t.k = s.k", update={"n": "t.n + s.n"},
                    txn=delta.Txn("app", 1), metadata=json.dumps({"batch_id": 1}))
    assertDataFrameEqual(delta.read(spark, path), [Row(k="a", n=6), Row(k="b", n=2)])
    assert [m["batch_id"] for m in delta.commit_metadata(spark, path)] == [1, 0]
    # the session settings that carried the MERGE's txn are gone again
    assert spark.conf.get(delta.TXN_APP, None) is None


def test_a_new_checkpoint_folder_gets_a_new_app_id(tmp_path):
    first = delta.stable_app_id(tmp_path / "a", "esteira-x")
    assert first == delta.stable_app_id(tmp_path / "a", "esteira-x")
    assert first.startswith("esteira-x-")
    assert delta.stable_app_id(tmp_path / "b", "esteira-x") != first
