"""Synthetic WhatsApp notification traffic, with the defects the stream must survive,
sent to the Kafka topic by `produce` (the `esteira notifications produce` command).

Messages look like the seed's (customer_id, message_id, customer_name, channel,
payload, event_datetime), are keyed by customer_id, have Portuguese payloads and skewed
customer sizes (Zipf: a few customers send most messages). Shares of the records are:
- re-deliveries: the exact bytes of an earlier message (a producer retry);
- late: first-time messages whose event time is up to `max_late_hours` in the past;
- broken: not JSON, a required field missing, or a field of the wrong type;
- too late: first-time messages older than the stream's maximum lateness.
The generator keeps the exact answer: distinct valid message_ids per customer, channel
and minute, which is what gold must hold once the stream has read everything.

Event times advance at `spec.rate` per second from `spec.start`. `produce`'s `send_rate`
paces the sending in wall-clock time: the CLI sends real-time traffic (event time = now)
at the same rate, and back-dated traffic (`--start`) as fast as the broker takes it, so
minutes of traffic take seconds to produce.
"""

from __future__ import annotations

import bisect
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from esteira.connectors import kafka, kafka_topics
from esteira.notifications.schemas import FIELDS

log = logging.getLogger(__name__)
_CHUNK_SECONDS = 0.1
_ID_MULT = 0x9E3779B97F  # odd: i -> i * _ID_MULT mod 2**40 is a bijection, so ids never repeat
_ID_SPACE = 1 << 40
_WARMUP = 200  # no defects before every partition has seen ordinary traffic

_NAMES_A = ("Lojas", "Farmácia", "Mercado", "Clínica", "Banco", "Auto Peças", "Construtora",
            "Escola", "Transportes", "Padaria", "Ótica", "Imobiliária", "Seguros", "Telecom")
_NAMES_B = ("Paulista", "Carioca", "do Sul", "Mineira", "Nordeste", "Central", "Bandeirantes",
            "Aurora", "Horizonte", "Ipiranga", "Serra Azul", "Litoral", "Boa Vista", "Pampa")
_PAYLOADS = (
    "Olá XXXXX, seja muito bem-vindo! Precisa de alguma ajuda?",
    "Não identificamos a sua última mensagem. Por favor, entre em contato",
    "Seu pedido nº {n} saiu para entrega e chega hoje até as 18h.",
    "Sua fatura de R$ {v},90 vence em {d}/03. Pague pelo Pix e evite juros.",
    "Seu código de verificação é {n}. Não compartilhe com ninguém.",
    "Lembrete: sua consulta está marcada para amanhã às {h}h. Responda SIM para confirmar.",
    "Obrigado pela compra, XXXXX! Avalie nosso atendimento de 0 a 10.",
    "Sua entrega foi reagendada. Acompanhe pelo link enviado por e-mail.",
)


@dataclass(frozen=True)
class Customer:
    customer_id: int
    customer_name: str


@dataclass
class Tally:
    """What was sent, and the exact counts gold must end with."""

    kinds: Counter[str] = field(default_factory=Counter)
    per_minute: Counter[tuple[int, str, str, str]] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return sum(self.kinds.values())

    @property
    def expected_total(self) -> int:
        return sum(self.per_minute.values())

    def per_customer_channel(self) -> Counter[tuple[int, str, str]]:
        out: Counter[tuple[int, str, str]] = Counter()
        for (cid, name, channel, _), n in self.per_minute.items():
            out[(cid, name, channel)] += n
        return out

    def as_dict(self) -> dict:
        return {
            "sent": self.sent,
            "kinds": dict(self.kinds),
            "expected_total": self.expected_total,
            "per_minute": [[*key, n] for key, n in sorted(self.per_minute.items())],
        }


@dataclass(frozen=True)
class Spec:
    rate: float
    duration: float
    customers: int
    start: datetime
    duplicates: float = 0.01
    late: float = 0.001
    bad: float = 0.0005
    too_late: float = 0.0
    max_late_hours: float = 3.0
    max_lateness_days: float = 35.0
    seed: int = 42

    @property
    def total(self) -> int:
        return int(self.rate * self.duration)


def make_customers(n: int, rng: random.Random) -> list[Customer]:
    """Customer 0 is the seed's Acme (7494212); the rest get distinct ids and names."""
    ids = {7494212}
    while len(ids) < n:
        ids.add(rng.randrange(1_000_000, 9_999_999))
    ids.discard(7494212)
    rest = sorted(ids)
    rng.shuffle(rest)
    out = [Customer(7494212, "Acme")]
    for i, cid in enumerate(rest[: n - 1]):
        a, q = i % len(_NAMES_A), i // len(_NAMES_A)
        name = f"{_NAMES_A[a]} {_NAMES_B[(a + q) % len(_NAMES_B)]}"
        if i >= len(_NAMES_A) * len(_NAMES_B):
            name += f" {i // (len(_NAMES_A) * len(_NAMES_B)) + 1}"
        out.append(Customer(cid, name))
    return out


def format_ts(ts: datetime) -> str:
    """2020-02-03T14:00:01.001+00:00, the seed's layout."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds")


def minute_of(ts: datetime) -> str:
    return ts.astimezone(UTC).replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:00")


class Generator:
    """Yields (key, value, kind) records in event-time order, tallying as it goes."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.customers = make_customers(spec.customers, self.rng)
        weights = [1 / (k + 1) ** 1.1 for k in range(len(self.customers))]
        total = sum(weights)
        self._cum = []
        acc = 0.0
        for w in weights:
            acc += w / total
            self._cum.append(acc)
        self._salt = self.rng.getrandbits(40)
        self._next_id = 0
        self._recent: list[tuple[bytes, bytes]] = []
        self._payloads = [self._payload() for _ in range(1024)]
        self.tally = Tally()

    def records(self) -> Iterator[tuple[bytes, bytes, str]]:
        spec, rng = self.spec, self.rng
        step = timedelta(seconds=1 / spec.rate)
        shares = [spec.duplicates, spec.late, spec.bad, spec.too_late]
        for i in range(spec.total):
            now = spec.start + i * step
            kind = "valid"
            if i >= _WARMUP:
                u = rng.random()
                for name, share in zip(("duplicate", "late", "bad", "too_late"), shares,
                                       strict=True):
                    if u < share:
                        kind = name
                        break
                    u -= share
            if kind == "duplicate" and self._recent:
                key, value = rng.choice(self._recent)
                self.tally.kinds["duplicate"] += 1
                yield key, value, "duplicate"
                continue
            if kind == "duplicate":
                kind = "valid"
            yield self._first_time(kind, now)

    def _first_time(self, kind: str, now: datetime) -> tuple[bytes, bytes, str]:
        rng = self.rng
        customer = self.customers[min(bisect.bisect(self._cum, rng.random()),
                                      len(self.customers) - 1)]
        if kind == "late":
            now -= timedelta(seconds=rng.uniform(60, self.spec.max_late_hours * 3600))
        elif kind == "too_late":
            now -= timedelta(days=self.spec.max_lateness_days + 1, hours=rng.uniform(0, 48))
        record = {
            "customer_id": customer.customer_id,
            "message_id": self._message_id(),
            "customer_name": customer.customer_name,
            "channel": "Whatsapp" if rng.random() < 0.95 else "SMS",
            "payload": self._payloads[rng.randrange(len(self._payloads))],
            "event_datetime": format_ts(now),
        }
        if kind == "bad":
            kind = rng.choice(("not_json", "missing_field", "wrong_type"))
            value = _break(record, kind, rng)
        else:
            value = _encode(record)
        key = str(customer.customer_id).encode()
        self.tally.kinds[kind] += 1
        if kind in ("valid", "late"):
            minute = record["event_datetime"][:16] + ":00"  # as minute_of(now), cheaper
            self.tally.per_minute[(customer.customer_id, customer.customer_name,
                                   record["channel"], minute)] += 1
            if len(self._recent) < 5000:
                self._recent.append((key, value))
            else:
                self._recent[rng.randrange(5000)] = (key, value)
        return key, value, kind

    def _message_id(self) -> str:
        n = ((self._next_id * _ID_MULT) % _ID_SPACE) ^ self._salt
        self._next_id += 1
        return f"{n:010X}"

    def _payload(self) -> str:
        rng = self.rng
        text = _PAYLOADS[rng.randrange(len(_PAYLOADS))]
        if "{" not in text:
            return text
        return text.format(n=rng.randrange(100000, 999999), v=rng.randrange(50, 2000),
                           d=rng.randrange(1, 29), h=rng.randrange(8, 18))


def _encode(record: dict) -> bytes:
    """json.dumps of a generated message, by hand: the generator must outrun the stream.

    Names and payloads come from fixed lists without quotes or backslashes."""
    return (
        f'{{"customer_id": {record["customer_id"]}, "message_id": "{record["message_id"]}", '
        f'"customer_name": "{record["customer_name"]}", "channel": "{record["channel"]}", '
        f'"payload": "{record["payload"]}", "event_datetime": "{record["event_datetime"]}"}}'
    ).encode()


def _break(record: dict, kind: str, rng: random.Random) -> bytes:
    """One broken record of the given kind (never a valid message)."""
    if kind == "not_json":
        text = json.dumps(record, ensure_ascii=False)
        return rng.choice((text[: len(text) // 2].encode(), b"\x00\xff\xfe binario",
                           b"<html>erro 502</html>", b""))
    if kind == "missing_field":
        victim = rng.choice(FIELDS)
        return json.dumps({k: v for k, v in record.items() if k != victim},
                          ensure_ascii=False).encode()
    bent = dict(record)
    choice = rng.randrange(3)
    if choice == 0:
        bent["customer_id"] = record["customer_name"]  # a name where the number goes
    elif choice == 1:
        bent["event_datetime"] = 1580738401001  # epoch millis instead of ISO-8601
    else:
        bent["customer_id"] = True
    return json.dumps(bent, ensure_ascii=False).encode()


def produce(bootstrap: str, topic: str, spec: Spec, *, partitions: int,
            send_rate: float | None) -> Tally:
    """Sends spec.total records to `topic` (created with `partitions` when missing), at
    most `send_rate` a second; returns the tally (what was sent, what gold must hold)."""
    kafka_topics.ensure_topic(bootstrap, topic, partitions)
    client = kafka.bulk_producer(bootstrap)
    deliveries = kafka.Deliveries(client, topic)
    gen = Generator(spec)
    per_chunk = max(1, int((send_rate or 1) * _CHUNK_SECONDS))
    began = time.monotonic()
    for i, (key, value, _kind) in enumerate(gen.records()):
        if send_rate and i % per_chunk == 0:
            delay = began + (i / send_rate) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        kafka.send(client, topic, key, value, deliveries)
        if deliveries.failures:
            break
    deliveries.settle(60)
    elapsed = time.monotonic() - began
    log.info("sent %d records to %s in %.1f s (%.0f/s)", gen.tally.sent, topic, elapsed,
             gen.tally.sent / elapsed if elapsed else 0)
    return gen.tally


def default_start(start: datetime | None) -> datetime:
    """The given start (UTC when naive), else now: real-time traffic."""
    if start is not None:
        return start if start.tzinfo else start.replace(tzinfo=UTC)
    return datetime.now(UTC)
