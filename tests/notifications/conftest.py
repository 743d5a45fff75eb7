"""Fixtures of the stream tests that run the stream in this process (JVM pass)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from esteira import streaming


@pytest.fixture
def stream_session(engine: str, spark: SparkSession) -> Iterator[SparkSession]:
    """The suite's JVM session, its settings put back after a stream changed them."""
    if engine != "spark":
        pytest.skip("the Kafka source needs JVM Spark")
    keys = [*streaming.STREAMING_CONF, "spark.sql.shuffle.partitions"]
    saved = {key: spark.conf.get(key, None) for key in keys}
    yield spark
    for key, value in saved.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)
