"""Kafka connector against the suite's real broker (fixtures in tests/service_fixtures.py)."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from esteira.connectors import kafka, kafka_topics
from esteira.errors import ServiceError

MESSAGES = [
    (b"cli-1", "Olá, cobrança de R$ 1.234,56 vence em 05/12/2026".encode()),
    (b"cli-2", b"\x00\x01binary\xff"),
    (None, b"sem chave"),
    (b"cli-3", b""),
]


def test_a_message_produced_is_consumed_back_intact(kafka_bootstrap, kafka_topic) -> None:
    topic = kafka_topic(partitions=3)

    sent = kafka.produce(kafka_bootstrap, topic, MESSAGES)
    records = kafka.consume(kafka_bootstrap, topic, count=len(MESSAGES), timeout=30)

    assert sent == len(MESSAGES)
    # an empty value comes back as None from librdkafka only when it was None: b"" stays b""
    assert sorted((r.key or b"", r.value or b"") for r in records) == sorted(
        (k or b"", v or b"") for k, v in MESSAGES
    )
    assert {r.partition for r in records} <= {0, 1, 2}
    assert all(r.log_append_time for r in records)


def test_topics_are_created_with_partitions_and_log_append_time(
    kafka_bootstrap, kafka_topic
) -> None:
    topic = kafka_topic(partitions=4)

    assert kafka_topics.describe_partitions(kafka_bootstrap, topic) == 4
    config = kafka_topics.topic_config(kafka_bootstrap, topic)
    assert config["message.timestamp.type"] == "LogAppendTime"


def test_creating_an_existing_topic_is_idempotent_unless_partitions_differ(
    kafka_bootstrap, kafka_topic
) -> None:
    topic = kafka_topic(partitions=2)

    kafka_topics.create_topic(kafka_bootstrap, topic, 2)  # same shape: fine
    with pytest.raises(ServiceError, match=f"{topic} exists with 2 partitions, not 5"):
        kafka_topics.create_topic(kafka_bootstrap, topic, 5)


def test_a_consumer_group_resumes_after_its_committed_offset(kafka_bootstrap, kafka_topic) -> None:
    topic = kafka_topic(partitions=1)
    kafka.produce(kafka_bootstrap, topic, [(b"k", b"first"), (b"k", b"second")])

    first = kafka.consume(kafka_bootstrap, topic, count=1, group_id=f"{topic}-g")
    rest = kafka.consume(kafka_bootstrap, topic, count=1, group_id=f"{topic}-g")

    assert [r.value for r in first + rest] == [b"first", b"second"]


def test_jvm_spark_streams_a_topic(
    spark: SparkSession, engine: str, kafka_bootstrap, kafka_topic, tmp_path
) -> None:
    if engine == "sail":
        pytest.skip("Sail has no Kafka source; Kafka runs on engine spark")
    topic = kafka_topic(partitions=2)
    kafka.produce(kafka_bootstrap, topic, [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])

    stream = kafka.read_stream(spark, kafka_bootstrap, topic, "earliest", 2)
    query = (
        stream.writeStream.format("parquet")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start(str(tmp_path / "out"))
    )
    query.awaitTermination(120)
    frame = spark.read.parquet(str(tmp_path / "out"))
    got = frame.select(
        F.col("key").cast("string").alias("key"),
        F.col("value").cast("string").alias("value"),
        F.col("timestampType").alias("timestamp_type"),
    )

    expected = spark.createDataFrame(
        [("a", "1", 1), ("b", "2", 1), ("c", "3", 1)],
        "key string, value string, timestamp_type int",
    )
    assertDataFrameEqual(got, expected)  # timestampType 1 = LogAppendTime
