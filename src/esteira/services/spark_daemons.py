"""Starting one Spark daemon (master, worker, Connect server) and learning where it listens.

Spark binds the next port when the one asked for is taken (spark.port.maxRetries), and a
port seen free a moment ago can be bound by another process before the daemon starts
(a test session's driver, say). So the daemon's own log line, not the request, says
which port it really listens on; cluster.py records that one.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

from esteira.errors import ServiceError
from esteira.services import local
from esteira.services.local import LOOPBACK

log = logging.getLogger(__name__)

# What each daemon logs once it listens; group 1 is the port.
BOUND = {
    "master_port": re.compile(r"Successfully started service 'sparkMaster' on port (\d+)"),
    "ui_port": re.compile(r"Successfully started service 'MasterUI' on port (\d+)"),
    "connect_port": re.compile(r"Spark Connect server started at: \S+:(\d+)"),
}
LABELS = {"master_port": "the Spark master", "ui_port": "the Spark master UI",
          "connect_port": "Spark Connect"}


def spawn(command: list[str], log_file: Path, env: dict[str, str]) -> tuple[int, int]:
    """Starts one daemon in its own session (a Ctrl-C in the caller's terminal spares it);
    spark-class execs java, so the pid is the JVM's. Returns the pid and where this
    start's lines begin in the (appended) log."""
    offset = log_file.stat().st_size if log_file.exists() else 0
    with log_file.open("a") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )
    return proc.pid, offset


def bound_ports(log_file: Path, offset: int, *keys: str) -> dict[str, int] | None:
    """The ports the daemon logged since `offset`, once every one of `keys` is there."""
    with log_file.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode("utf-8", errors="replace")
    found = {key: BOUND[key].search(text) for key in keys}
    if not all(found.values()):
        return None
    return {key: int(match.group(1)) for key, match in found.items() if match}


def take_bound(state: dict, bound: dict[str, int], notes: list[str]) -> None:
    """Records the ports really bound; one that differs from the request is said so."""
    for key, port in bound.items():
        if port != state[key]:
            note = (f"port {state[key]} was taken while {LABELS[key]} started; "
                    f"it listens on {port}")
            log.warning("%s", note)
            notes.append(note)
            state[key] = port


def wait_ready(what: str, pid: int, marker: str, log_file: Path,
               ready: Callable[[], object], timeout: float) -> None:
    """Until `ready()` is truthy; a daemon that died or never got ready is an error."""
    ok = local.wait_until(lambda: not local.pid_alive(pid, marker) or bool(ready()), timeout)
    if not local.pid_alive(pid, marker):
        raise ServiceError(f"{what} stopped while starting; see its log: {log_file}")
    if not ok:
        raise ServiceError(f"{what} was not ready within {timeout:.0f} s; see its log: {log_file}")


def alive_workers(ui_port: int) -> int:
    """ALIVE workers as the master reports them (its web UI's JSON)."""
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{ui_port}/json/", timeout=5) as resp:
            return int(json.load(resp).get("aliveworkers", 0))
    except (OSError, ValueError):
        return 0
