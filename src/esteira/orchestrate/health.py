"""Is the notifications stream keeping up? Its checkpoint against the topic's end.

The stream's checkpoint says, for its last committed micro-batch, up to which offset of
each partition it has read and when that batch started; Kafka says where each
partition ends. Records behind = the difference. A scheduler polls this before the
daily bill (deploy/airflow's sensor), or cron runs it with --alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from esteira import endpoints
from esteira.connectors import kafka, kafka_topics
from esteira.errors import InputError
from esteira.settings import Settings


@dataclass(frozen=True)
class StreamHealth:
    topic: str
    behind: int  # records in the topic that the last committed batch had not read
    last_batch: datetime | None  # when that batch started (UTC)

    def idle_minutes(self, now: datetime) -> float | None:
        return None if self.last_batch is None else (now - self.last_batch).total_seconds() / 60


def checkpoint_offsets(checkpoint: Path) -> tuple[dict[str, dict[int, int]], datetime | None]:
    """The offsets read up to, per topic and partition, by the last committed batch, and
    that batch's start time; ({}, None) when the stream never committed a batch."""
    commits = [int(p.name) for p in (checkpoint / "commits").glob("*") if p.name.isdigit()]
    if not commits:
        return {}, None
    lines = (checkpoint / "offsets" / str(max(commits))).read_text().splitlines()
    meta = json.loads(lines[1])
    started = datetime.fromtimestamp(meta["batchTimestampMs"] / 1000, UTC)
    offsets: dict[str, dict[int, int]] = {}
    for line in lines[2:]:
        source = json.loads(line) if line.strip().startswith("{") else {}
        for topic, parts in source.items():
            offsets.setdefault(topic, {}).update({int(p): int(o) for p, o in parts.items()})
    return offsets, started


def stream_health(settings: Settings) -> StreamHealth:
    """The notifications stream's lag; InputError when it has never run here."""
    from confluent_kafka import TopicPartition

    from esteira.notifications.io import tables

    cfg = settings.notifications
    checkpoint = Path(tables(cfg, settings.home).checkpoint)
    read, started = checkpoint_offsets(checkpoint)
    if started is None:
        raise InputError(str(checkpoint), "no committed batch: the stream has not run here")
    bootstrap = endpoints.kafka_bootstrap(settings)
    partitions = kafka_topics.describe_partitions(bootstrap, cfg.topic)
    client = kafka.consumer(bootstrap)
    try:
        behind = 0
        for p in range(partitions):
            low, high = client.get_watermark_offsets(TopicPartition(cfg.topic, p), timeout=10)
            behind += max(0, high - max(low, read.get(cfg.topic, {}).get(p, low)))
    finally:
        client.close()
    return StreamHealth(cfg.topic, behind, started)
