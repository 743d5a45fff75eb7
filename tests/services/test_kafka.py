"""The local Kafka broker started and stopped in a private home (not the suite's)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from esteira.connectors import kafka as kafka_io
from esteira.connectors import kafka_topics
from esteira.errors import ServiceError
from esteira.services import kafka
from esteira.services.local import free_port, port_answers, read_state
from esteira.settings import load_settings


def test_up_down_status_keep_messages_and_handle_a_taken_port(service_home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        settings = load_settings(home=service_home, kafka={"port": taken})
        try:
            _lifecycle(settings, taken)
        finally:
            kafka.down(settings)


def _lifecycle(settings, taken: int) -> None:
    assert not kafka.status(settings).running

    first = kafka.up(settings)
    assert first.running and first.port != taken and first.version == "4.1.1"
    assert f"port {taken} is taken; Kafka uses free port {first.port} instead" in first.notes
    bootstrap = kafka.bootstrap_servers(settings)
    assert bootstrap == f"127.0.0.1:{first.port}"
    outside = _outward_address()
    if outside:  # loopback only: the machine's network address must not reach the broker
        assert not port_answers(first.port, outside)
    kafka_topics.create_topic(bootstrap, "pedidos", partitions=2)
    kafka_io.produce(bootstrap, "pedidos", [(b"1", b"pedido 1"), (b"2", b"pedido 2")])

    second = kafka.up(settings)
    assert second.notes == ["already running"] and second.pid == first.pid

    stopped = kafka.down(settings)
    assert not stopped.running and not port_answers(first.port)
    assert "pid" not in read_state(settings, "kafka")

    again = kafka.up(settings)
    assert again.running and again.pid != first.pid and again.port == first.port
    records = kafka_io.consume(kafka.bootstrap_servers(settings), "pedidos", count=2)
    assert sorted(r.value for r in records) == [b"pedido 1", b"pedido 2"]


def _outward_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # UDP: no packet is sent
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_a_broker_that_does_not_come_up_in_time_names_its_log(service_home: Path) -> None:
    settings = load_settings(
        home=service_home / "slow", kafka={"port": free_port(), "start_timeout": 0.5}
    )
    (service_home / "slow" / "jars").mkdir(parents=True)
    (service_home / "slow" / "jars" / "kafka").symlink_to(service_home / "jars" / "kafka")

    with pytest.raises(
        ServiceError, match=r"did not accept connections .* see its log: .*kafka\.log"
    ):
        kafka.up(settings)
    assert not kafka.status(settings).running  # the half-started broker was stopped


def test_an_external_cluster_is_only_checked(tmp_path: Path, kafka_bootstrap: str) -> None:
    settings = load_settings(home=tmp_path, kafka={"bootstrap_servers": kafka_bootstrap})

    found = kafka.up(settings)

    assert found.external and found.running and found.address == kafka_bootstrap
    assert not (tmp_path / "kafka").exists() and read_state(settings, "kafka") == {}


def test_an_external_cluster_that_does_not_answer_is_an_error(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    settings = load_settings(home=tmp_path, kafka={"bootstrap_servers": address})

    with pytest.raises(ServiceError, match=f"Kafka cluster at {address} .* does not answer"):
        kafka.up(settings)


def test_a_broker_that_cannot_run_fails_at_once_and_names_its_log(service_home: Path) -> None:
    home = service_home / "broken"
    (home / "jars").mkdir(parents=True)
    (home / "jars" / "kafka").symlink_to(service_home / "jars" / "kafka")
    settings = load_settings(home=home, kafka={"port": free_port(), "heap": "lots"})

    with pytest.raises(ServiceError, match=r"see its log: .*kafka\.log"):
        kafka.up(settings)
    assert "Invalid maximum heap size" in (home / "services" / "kafka.log").read_text()
