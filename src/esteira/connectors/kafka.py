"""Apache Kafka from Python (confluent-kafka): topics, producing, consuming, Spark options.

Every function takes the bootstrap servers as a string (`esteira.endpoints.
kafka_bootstrap(settings)` resolves the configured cluster or the local broker).
`read_stream` is Spark's Kafka source (JVM engine only: Sail has none).

Topics are created by esteira, never auto-created by a producer: an explicit partition
count and `message.timestamp.type=LogAppendTime`, so that retention counts from the
moment the broker stored a message and back-dated events are not deleted early.
Errors name the topic, never a message's content (it may carry personal data).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tenacity
from confluent_kafka import (
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
)
from confluent_kafka.admin import AdminClient, NewTopic

from esteira.errors import ServiceError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
_QUIET = {"log_level": 3, "logger": logging.getLogger("esteira.kafka.client")}

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


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, **_QUIET})


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    """Creates a topic with LogAppendTime timestamps; an existing one must match partitions."""
    settings = {**LOG_APPEND_TIME, **(config or {})}
    topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=settings)
    client = admin(bootstrap)  # kept referenced until the future resolves
    future = client.create_topics([topic], request_timeout=timeout)[name]
    try:
        future.result(timeout=timeout)
        describe_partitions(bootstrap, name, timeout)  # wait until metadata shows it
        log.info("Kafka topic %s created (%d partitions)", name, partitions)
    except KafkaException as exc:
        err = exc.args[0]
        if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise ServiceError(
                f"cannot create Kafka topic {name} at {bootstrap}: {err.str()}"
            ) from None
        found = describe_partitions(bootstrap, name, timeout)
        if found != partitions:
            raise ServiceError(
                f"Kafka topic {name} exists with {found} partitions, not {partitions}"
            ) from None


def ensure_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Creates the topic unless it exists with that partition count; a broker that does
    not answer is a ServiceError that says how to start the local one."""
    try:
        admin(bootstrap).list_topics(timeout=15)
    except KafkaException as exc:
        raise ServiceError(
            f"Kafka at {bootstrap} does not answer ({exc.__class__.__name__}); "
            "start it with `esteira services up`"
        ) from None
    create_topic(bootstrap, name, partitions)


def describe_partitions(bootstrap: str, name: str, timeout: float = 10.0) -> int:
    """Partition count of a topic, waiting while a new topic's metadata propagates."""
    client = admin(bootstrap)

    def partitions() -> int | None:
        topic = client.list_topics(topic=name, timeout=timeout).topics.get(name)
        ready = topic is not None and topic.error is None and topic.partitions and all(
            p.leader >= 0 for p in topic.partitions.values()
        )
        return len(topic.partitions) if ready else None

    def missing(_state: tenacity.RetryCallState) -> int:
        raise ServiceError(f"Kafka topic {name} does not exist at {bootstrap}")

    return tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(0.1),
        retry=tenacity.retry_if_result(lambda n: n is None),
        retry_error_callback=missing,
    )(partitions)


def topic_config(bootstrap: str, name: str, timeout: float = 10.0) -> dict[str, str]:
    from confluent_kafka.admin import ConfigResource, ResourceType

    resource = ConfigResource(ResourceType.TOPIC, name)
    client = admin(bootstrap)
    entries = client.describe_configs([resource])[resource].result(timeout=timeout)
    return {key: entry.value for key, entry in entries.items()}


def delete_topics(bootstrap: str, names: Iterable[str], timeout: float = 30.0) -> None:
    names = list(names)
    if not names:
        return
    client = admin(bootstrap)
    for name, future in client.delete_topics(names, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                problem = exc.args[0].str()
                raise ServiceError(f"cannot delete Kafka topic {name}: {problem}") from None


def producer(bootstrap: str, **conf: Any) -> Producer:
    """An idempotent producer (acks=all): a retry never writes a message twice."""
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            **_QUIET,
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
            **_QUIET,
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
