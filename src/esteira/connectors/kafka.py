"""Apache Kafka from Python (confluent-kafka): producing, consuming, Spark's Kafka source.

Every function takes the bootstrap servers as a string (`esteira.endpoints.
kafka_bootstrap(settings)` resolves the configured cluster or the local broker).
`read_stream` is Spark's Kafka source (JVM engine only: Sail has none).

Topics are esteira's to create (`kafka_topics`), never a producer's.
Errors name the topic, never a message's content (it may carry personal data).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from confluent_kafka import (
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    Producer,
)

from esteira.connectors.kafka_topics import QUIET
from esteira.errors import ServiceError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

Payload = bytes | str | None


@dataclass(frozen=True)
class Record:
    """One consumed message (timestamp in epoch milliseconds, as Kafka keeps it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    log_append_time: bool
    headers: tuple[tuple[str, bytes], ...] = ()


def producer(bootstrap: str, **conf: Any) -> Producer:
    """An idempotent producer (acks=all): a retry never writes a message twice."""
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            **QUIET,
            **conf,
        }
    )


def bulk_producer(bootstrap: str) -> Producer:
    """An idempotent producer tuned for throughput: larger batches, lz4, a deep queue."""
    return producer(
        bootstrap,
        acks="all",
        **{
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000,
            "compression.type": "lz4",
        },
    )


def send(client: Producer, topic: str, key: Payload, value: Payload, on_delivery: Any) -> None:
    """Queues one message, waiting for deliveries to drain while the local queue is full."""
    while True:
        try:
            client.produce(topic, key=key, value=value, on_delivery=on_delivery)
            break
        except BufferError:
            client.poll(0.05)
    client.poll(0)


class Deliveries:
    """Collects delivery failures; `settle` flushes and raises the first one (naming the
    topic, never a message)."""

    def __init__(self, client: Producer, topic: str) -> None:
        self.client, self.topic = client, topic
        self.failures: list[str] = []

    def __call__(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self.failures.append(err.str())

    def settle(self, timeout: float) -> None:
        remaining = self.client.flush(timeout)
        if remaining or self.failures:
            problem = (
                self.failures[0] if self.failures
                else f"{remaining} not acknowledged in {timeout:.0f} s"
            )
            raise ServiceError(f"producing to Kafka topic {self.topic} failed: {problem}")


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[Payload, Payload]],
    timeout: float = 30.0,
    **conf: Any,
) -> int:
    """Sends (key, value) pairs and waits until every one is acknowledged; returns the count."""
    client = producer(bootstrap, **conf)
    deliveries = Deliveries(client, topic)
    sent = 0
    for key, value in messages:
        send(client, topic, key, value, deliveries)
        sent += 1
    deliveries.settle(timeout)
    return sent


def consumer(bootstrap: str, group_id: str | None = None, **conf: Any) -> Consumer:
    """A consumer that starts at the earliest offset when its group has none."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group_id or f"esteira-{uuid.uuid4().hex[:12]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **QUIET,
            **conf,
        }
    )


def consume(
    bootstrap: str,
    topic: str,
    count: int,
    timeout: float = 30.0,
    group_id: str | None = None,
) -> list[Record]:
    """Reads up to `count` messages (fewer if the timeout passes first), oldest first."""
    client = consumer(bootstrap, group_id)
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        client.subscribe([topic])
        while len(records) < count and time.monotonic() < deadline:
            msg = client.poll(min(1.0, max(deadline - time.monotonic(), 0.01)))
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise ServiceError(f"consuming Kafka topic {topic}: {msg.error().str()}")
            records.append(_record(msg))
        if records and group_id:
            client.commit(asynchronous=False)
    finally:
        client.close()
    return records


def read_stream(
    session: SparkSession,
    bootstrap: str,
    topic: str,
    starting_offsets: str = "earliest",
    max_offsets_per_trigger: int | None = None,
    min_partitions: int | None = None,
) -> DataFrame:
    """The topic as a Structured Streaming source (key, value, topic, partition, offset,
    timestamp, timestampType); at most `max_offsets_per_trigger` records per batch, read
    by at least `min_partitions` tasks (the source splits a topic partition's offset
    range, so that fewer topic partitions than cores, or a count that is no multiple of
    the cores, do not leave a core idle)."""
    reader = (
        session.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets)
        .option("includeHeaders", "false")
    )
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    if min_partitions:
        reader = reader.option("minPartitions", str(min_partitions))
    return reader.load()


def _record(msg: Any) -> Record:
    kind, stamp = msg.timestamp()
    return Record(
        topic=msg.topic(),
        partition=msg.partition(),
        offset=msg.offset(),
        key=msg.key(),
        value=msg.value(),
        timestamp_ms=stamp,
        log_append_time=kind == TIMESTAMP_LOG_APPEND_TIME,
        headers=tuple(msg.headers() or ()),
    )


Headers = list[tuple[str, bytes | str]]


def send_record(client: Producer, topic: str, key: Payload, value: Payload,
                headers: Headers | None, on_delivery: Any) -> None:
    """`send` with record headers (e.g. a dead letter's rule and source coordinates)."""
    while True:
        try:
            client.produce(topic, key=key, value=value, headers=headers or None,
                           on_delivery=on_delivery)
            break
        except BufferError:
            client.poll(0.05)
    client.poll(0)


def produce_with_headers(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[Payload, Payload, Headers]],
    timeout: float = 30.0,
    **conf: Any,
) -> int:
    """Sends (key, value, headers) records with the idempotent producer and waits until
    every one is acknowledged; returns the count (a failure is a ServiceError)."""
    client = producer(bootstrap, **conf)
    deliveries = Deliveries(client, topic)
    sent = 0
    for key, value, headers in records:
        send_record(client, topic, key, value, headers, deliveries)
        sent += 1
    deliveries.settle(timeout)
    return sent
