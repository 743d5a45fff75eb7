"""What the local Kafka and PostgreSQL have in common: ports, state files, locks, pids.

Each service keeps a small JSON state file in <home>/services/<name>.json (the port it
really listens on, its pid) so that later commands and other processes find it even
when the configured port was taken and a free one was chosen instead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import tenacity

from esteira.errors import ServiceError
from esteira.settings import Settings

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


@dataclass
class ServiceStatus:
    """What `esteira services status` shows for one service."""

    name: str
    running: bool
    external: bool = False
    address: str | None = None
    pid: int | None = None
    port: int | None = None
    version: str | None = None
    data_dir: Path | None = None
    log_file: Path | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.external:
            state = "answers" if self.running else "does not answer"
            return f"{self.name}: external server {self.address} {state}"
        if not self.running:
            where = f" (data: {self.data_dir})" if self.data_dir else ""
            return f"{self.name}: not running{where}"
        parts = [f"pid {self.pid}", f"port {self.port}", f"version {self.version or '?'}"]
        parts.append(f"data {self.data_dir}")
        return f"{self.name}: running, " + ", ".join(parts)


def checked_external(found: ServiceStatus, what: str) -> ServiceStatus:
    """`up` of a service the config names (esteira starts none): it must answer.
    `what` says which and where, e.g. "Kafka cluster at h:9092 (kafka.bootstrap_servers)"."""
    if not found.running:
        raise ServiceError(f"the {what} does not answer")
    return found


def left_external(found: ServiceStatus) -> ServiceStatus:
    """`down` of a service the config names: esteira never stops what it did not start."""
    found.notes.append("external: not stopped by esteira")
    return found


def services_dir(settings: Settings) -> Path:
    folder = settings.home / "services"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_state(settings: Settings, name: str) -> dict[str, Any]:
    path = services_dir(settings) / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_state(settings: Settings, name: str, state: dict[str, Any]) -> None:
    path = services_dir(settings) / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)


@contextlib.contextmanager
def service_lock(settings: Settings, name: str) -> Iterator[None]:
    """Serialises up/down of one service across processes (several test sessions share it)."""
    path = services_dir(settings) / f"{name}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def port_free(port: int) -> bool:
    """True when nothing listens on the loopback port (servers bind with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def choose_port(name: str, wanted: int, remembered: int | None, notes: list[str]) -> int:
    """The configured port; if taken, the port used last time; else any free port (said so)."""
    if port_free(wanted):
        return wanted
    if remembered and remembered != wanted and port_free(remembered):
        port = remembered
    else:
        port = free_port()
    note = f"port {wanted} is taken; {name} uses free port {port} instead"
    log.warning("%s", note)
    notes.append(note)
    return port


def port_answers(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int | None, marker: str | None = None) -> bool:
    """True when the process runs (and, with a marker, its command line contains it);
    a zombie left by a parent that has not reaped it counts as gone."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return marker is None or marker in " ".join(proc.cmdline())
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # alive, owned by another user (the unprivileged server account)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Polls `check` every `interval` s until it is true (True) or `timeout` passes (False)."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_result(lambda ok: not ok),
        retry_error_callback=lambda _state: False,
    )
    return retrying(check)


def terminate(pid: int, timeout: float, marker: str | None = None) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL if the process outlives the timeout."""
    if not pid_alive(pid, marker):
        return
    try:
        proc = psutil.Process(pid)
        proc.terminate()
        if not wait_until(lambda: not pid_alive(pid, marker), timeout, 0.2):
            log.warning("pid %d did not stop within %.0f s; killing it", pid, timeout)
            proc.kill()
            wait_until(lambda: not pid_alive(pid, marker), 5, 0.2)
    except psutil.NoSuchProcess:
        pass  # it ended on its own meanwhile
