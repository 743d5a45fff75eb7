"""arrow_stream: a frame's rows as record batches, as the engine under test sends them."""

from __future__ import annotations

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from esteira.connectors import arrow_stream


def test_the_batches_hold_every_row_once_in_the_frames_order(spark: SparkSession) -> None:
    frame = spark.range(0, 200_000).selectExpr(
        "id", "cast(id AS string) AS texto", "CASE WHEN id % 7 = 0 THEN NULL ELSE id END AS n"
    ).orderBy(F.col("id").desc())
    got = pa.Table.from_batches(list(arrow_stream.batches(frame)))
    assert got.column_names == ["id", "texto", "n"]
    assert got["id"].to_pylist() == list(range(199_999, -1, -1))
    assert got["texto"].to_pylist()[:2] == ["199999", "199998"]
    assert got["n"].null_count == len(range(0, 200_000, 7))


def test_an_empty_frame_gives_no_batch(spark: SparkSession) -> None:
    assert list(arrow_stream.batches(spark.range(0, 10).filter("id < 0"))) == []

