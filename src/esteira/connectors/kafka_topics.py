"""Kafka topics (confluent-kafka's admin client): created by esteira, never by a producer.

Every topic gets an explicit partition count and `message.timestamp.type=LogAppendTime`,
so that retention counts from the moment the broker stored a message and back-dated
events are not deleted early. Errors name the topic, never a message's content.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import tenacity
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from esteira.errors import ServiceError

log = logging.getLogger("esteira.connectors.kafka")
LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
# librdkafka's own log: errors only, through Python logging (never message contents)
QUIET = {"log_level": 3, "logger": logging.getLogger("esteira.kafka.client")}


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, **QUIET})


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
