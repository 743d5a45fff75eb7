"""The local Apache Kafka broker: one KRaft node (broker + controller) on loopback.

Jars come from Maven Central through pom.xml (profile kafka-broker, `make jars`) into
<home>/jars/kafka and run on the machine's Java 17; data lives in <home>/kafka/data,
the log in <home>/services/kafka.log. When `kafka.bootstrap_servers` is configured,
nothing is started: `up` only checks that the cluster answers.
"""

from __future__ import annotations

import base64
import logging
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from esteira.errors import ServiceError
from esteira.services import local
from esteira.services.local import LOOPBACK, ServiceStatus
from esteira.settings import Settings

log = logging.getLogger(__name__)
NAME = "kafka"
MAIN_CLASS = "kafka.Kafka"
_JAR = re.compile(r"^kafka_[\d.]+-(?P<version>[\d.]+)\.jar$")

_LOG4J = """\
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def bootstrap_servers(settings: Settings) -> str:
    """Where clients connect: the external cluster, else the local broker's real port."""
    if settings.kafka.bootstrap_servers:
        return settings.kafka.bootstrap_servers
    port = local.read_state(settings, NAME).get("port") or settings.kafka.port
    return f"{LOOPBACK}:{port}"


def paths(settings: Settings) -> dict[str, Path]:
    root = (settings.home / "kafka").resolve()
    return {
        "root": root,
        "data": root / "data",
        "config": root / "server.properties",
        "log4j": root / "log4j2.properties",
        "log": (local.services_dir(settings) / "kafka.log").resolve(),
        "jars": (settings.jars_dir / "kafka").resolve(),
    }


def version(settings: Settings) -> str | None:
    for jar in paths(settings)["jars"].glob("kafka_*.jar"):
        match = _JAR.match(jar.name)
        if match:
            return match.group("version")
    return None


def status(settings: Settings) -> ServiceStatus:
    if settings.kafka.bootstrap_servers:
        return _external_status(settings)
    state = local.read_state(settings, NAME)
    p = paths(settings)
    pid = state.get("pid")
    running = local.pid_alive(pid, MAIN_CLASS) and local.port_answers(state.get("port", 0))
    return ServiceStatus(
        NAME,
        running,
        pid=pid if running else None,
        port=state.get("port") if running else None,
        version=version(settings),
        data_dir=p["data"],
        log_file=p["log"],
    )


def up(settings: Settings) -> ServiceStatus:
    """Starts the broker unless it already runs (then a no-op); waits until it answers."""
    if settings.kafka.bootstrap_servers:
        found = _external_status(settings)
        return local.checked_external(
            found, f"Kafka cluster at {found.address} (kafka.bootstrap_servers)")
    with local.service_lock(settings, NAME):
        current = status(settings)
        if current.running:
            current.notes.append("already running")
            return current
        state = local.read_state(settings, NAME)
        if local.pid_alive(state.get("pid"), MAIN_CLASS):
            # started but not answering yet (another process is starting it): wait for it
            if local.wait_until(lambda: status(settings).running, settings.kafka.start_timeout):
                found = status(settings)
                found.notes.append("already running")
                return found
            raise _not_ready(settings, state["port"])
        return _start(settings, state)


def down(settings: Settings) -> ServiceStatus:
    """Stops the local broker cleanly (SIGTERM: controlled shutdown); data stays."""
    if settings.kafka.bootstrap_servers:
        return local.left_external(_external_status(settings))
    with local.service_lock(settings, NAME):
        state = local.read_state(settings, NAME)
        pid = state.get("pid")
        if local.pid_alive(pid, MAIN_CLASS):
            local.terminate(pid, timeout=60, marker=MAIN_CLASS)
        state.pop("pid", None)
        local.write_state(settings, NAME, state)
        return status(settings)


def _start(settings: Settings, state: dict) -> ServiceStatus:
    p = paths(settings)
    java = shutil.which("java")
    if java is None:
        raise ServiceError(
            "Kafka needs Java 17 (java is not on PATH): apt-get install openjdk-17-jre-headless"
        )
    if version(settings) is None:
        raise ServiceError(f"the Kafka broker jars are not in {p['jars']}; run `make jars`")
    notes: list[str] = []
    port = local.choose_port("Kafka", settings.kafka.port, state.get("port"), notes)
    controller = state.get("controller_port")
    if not controller or controller == port or not local.port_free(controller):
        controller = local.free_port()
    p["data"].mkdir(parents=True, exist_ok=True)
    p["config"].write_text(_server_properties(p["data"], port, controller), encoding="utf-8")
    p["log4j"].write_text(_LOG4J.format(log=p["log"].resolve()), encoding="utf-8")
    classpath = f"{p['jars'].resolve()}/*"
    jvm = [
        java,
        f"-Xmx{settings.kafka.heap}",
        "-Xms128m",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={p['log4j'].resolve()}",
        "-cp",
        classpath,
    ]
    if not (p["data"] / "meta.properties").exists():
        _format_storage(jvm, p)
    with p["log"].open("a") as out:
        proc = subprocess.Popen(
            [*jvm, MAIN_CLASS, str(p["config"].resolve())],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the caller's terminal must not kill it
        )
    state.update(pid=proc.pid, port=port, controller_port=controller, started=time.time())
    local.write_state(settings, NAME, state)
    log.info("Kafka broker starting (pid %d, port %d); log: %s", proc.pid, port, p["log"])
    ready = local.wait_until(
        lambda: proc.poll() is not None or _answers(f"{LOOPBACK}:{port}"),
        settings.kafka.start_timeout,
    )
    if proc.poll() is not None:  # a broken config or a port grabbed meanwhile: fail now
        raise ServiceError(
            f"the Kafka broker stopped while starting (exit code {proc.returncode}); "
            f"see its log: {p['log']}"
        )
    if not ready:
        local.terminate(proc.pid, timeout=5)
        raise _not_ready(settings, port)
    found = status(settings)
    found.notes = notes + ["started"]
    return found


def _format_storage(jvm: list[str], p: dict[str, Path]) -> None:
    """Formats the KRaft log directory once (a fresh cluster id); later starts reuse it."""
    cluster_id = "-"
    while cluster_id.startswith("-"):  # as Kafka's own Uuid: a leading '-' reads as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    done = subprocess.run(
        [
            *jvm,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            cluster_id,
            "-c",
            str(p["config"].resolve()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        with p["log"].open("a") as out:
            out.write(done.stdout + done.stderr)
        raise ServiceError(f"formatting the Kafka storage failed; see its log: {p['log']}")


def _server_properties(data: Path, port: int, controller: int) -> str:
    """Single-node KRaft: replication factors of 1; loopback listeners only."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{LOOPBACK}:{controller}",
            f"listeners=PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller}",
            f"advertised.listeners=PLAINTEXT://{LOOPBACK}:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data.resolve()}",
            "num.partitions=1",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


def _answers(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when a Kafka cluster returns its metadata (a bare TCP accept is not enough)."""
    from confluent_kafka.admin import AdminClient

    if not any(_listens(address) for address in bootstrap.split(",")):
        return False  # nobody listens: no need to wait for the client's timeout
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "log_level": 0,
            "logger": logging.getLogger("esteira.kafka.client"),
        }
    )
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception:  # KafkaException: not (yet) reachable
        return False
    return bool(metadata.brokers)


def _listens(address: str) -> bool:
    host, _, port = address.strip().rpartition(":")
    try:
        return local.port_answers(int(port), host.strip("[]") or LOOPBACK)
    except ValueError:
        return True  # not host:port: let the Kafka client judge it


def _external_status(settings: Settings) -> ServiceStatus:
    address = settings.kafka.bootstrap_servers or ""
    return ServiceStatus(NAME, _answers(address, timeout=10), external=True, address=address)


def _not_ready(settings: Settings, port: int) -> ServiceError:
    log_file = paths(settings)["log"]
    return ServiceError(
        f"the Kafka broker did not accept connections on {LOOPBACK}:{port} within "
        f"{settings.kafka.start_timeout:.0f} s; see its log: {log_file}"
    )
