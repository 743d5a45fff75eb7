"""`esteira notifications produce`: the generator's records onto the Kafka topic.

Event times advance at `spec.rate` per second from `spec.start`. `send_rate` paces the
sending in wall-clock time: the CLI sends real-time traffic (event time = now) at the
same rate, and back-dated traffic (`--start`) as fast as the broker takes it, so minutes
of traffic take seconds to produce.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from esteira.errors import ServiceError
from esteira.notifications import io
from esteira.notifications.generator import Generator, Spec, Tally
from esteira.settings import Settings

log = logging.getLogger(__name__)
_CHUNK_SECONDS = 0.1


def produce(settings: Settings, spec: Spec, *, send_rate: float | None) -> Tally:
    """Sends spec.total records; returns the tally (what was sent, what gold must hold)."""
    from esteira.services.kafka import bootstrap_servers

    cfg = settings.notifications
    bootstrap = bootstrap_servers(settings)
    io.ensure_topic(bootstrap, cfg)
    producer = io.producer(bootstrap)
    failures: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is not None:
            failures.append(str(err))

    gen = Generator(spec)
    per_chunk = max(1, int((send_rate or 1) * _CHUNK_SECONDS))
    began = time.monotonic()
    for i, (key, value, _kind) in enumerate(gen.records()):
        if send_rate and i % per_chunk == 0:
            delay = began + (i / send_rate) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        _send(producer, cfg.topic, key, value, on_delivery)
        if failures:
            break
    remaining = producer.flush(60)
    if failures or remaining:
        raise ServiceError(
            f"Kafka did not accept every record on {cfg.topic}: "
            f"{failures[0] if failures else f'{remaining} still queued after 60 s'}"
        )
    elapsed = time.monotonic() - began
    log.info("sent %d records to %s in %.1f s (%.0f/s)", gen.tally.sent, cfg.topic, elapsed,
             gen.tally.sent / elapsed if elapsed else 0)
    return gen.tally


def _send(producer, topic: str, key: bytes, value: bytes, on_delivery) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
            break
        except BufferError:  # local queue full: let librdkafka drain it
            producer.poll(0.05)
    producer.poll(0)


def default_start(start: datetime | None) -> datetime:
    """The given start (UTC when naive), else now: real-time traffic."""
    if start is not None:
        return start if start.tzinfo else start.replace(tzinfo=UTC)
    return datetime.now(UTC)
