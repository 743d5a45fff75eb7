"""The local PostgreSQL server: Debian's postgresql package, data in <home>/postgres.

- Loopback only (listen_addresses=127.0.0.1); TCP logins use scram-sha-256. The Unix
  socket sits inside the data directory (mode 0700) and only admits the server account
  and the account that runs esteira, mapped to the superuser (peer authentication).
- Run as root, the server runs as an unprivileged account (`postgres.os_user`, the
  Debian package's `postgres` by default): the data directory is chowned to it.
- The application role (`postgres.user`) gets its password from ESTEIRA_POSTGRES__PASSWORD.
  When that is unset, the local server generates one on first `up` and keeps it in
  <home>/services/postgres.password (mode 0600, never in the repository); an external
  server (`postgres.host`) always needs the variable.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

from esteira.errors import ServiceError
from esteira.services import local, pg_cluster
from esteira.services.local import LOOPBACK, ServiceStatus
from esteira.settings import Settings

log = logging.getLogger(__name__)
NAME = "postgres"
_PACKAGE_ROOT = Path("/usr/lib/postgresql")


def paths(settings: Settings) -> dict[str, Path]:
    return {
        "data": (settings.home / "postgres").resolve(),
        "log": (local.services_dir(settings) / "postgres.log").resolve(),
        "password": local.services_dir(settings) / "postgres.password",
    }


def port(settings: Settings) -> int:
    """The port the local server really uses (remembered), else the configured one."""
    if settings.postgres.host:
        return settings.postgres.port
    return local.read_state(settings, NAME).get("port") or settings.postgres.port


def password(settings: Settings) -> str:
    """The application role's password: the environment, else the local generated one."""
    if settings.postgres.password is not None:
        return settings.postgres.password.get_secret_value()
    if settings.postgres.host:
        raise ServiceError(
            f"ESTEIRA_POSTGRES__PASSWORD is not set: it is needed to log in to the external "
            f"PostgreSQL {settings.postgres.host} as {settings.postgres.user}"
        )
    file = paths(settings)["password"]
    if not file.exists():
        log.info(
            "ESTEIRA_POSTGRES__PASSWORD is not set: the local server uses a generated "
            "password kept in %s",
            file,
        )
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    return file.read_text(encoding="utf-8").strip()


def binaries() -> Path:
    """The folder with initdb/pg_ctl/postgres: the newest /usr/lib/postgresql/<v>/bin."""
    found = sorted(_PACKAGE_ROOT.glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path and Path(on_path).resolve().parent.joinpath("initdb").exists():
        return Path(on_path).resolve().parent
    raise ServiceError(
        "the PostgreSQL server is not installed (no initdb/pg_ctl found): run "
        "`make services-deps` (apt-get install postgresql), or set postgres.host to use yours"
    )


def version() -> str | None:
    try:
        out = subprocess.run(
            [str(binaries() / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (ServiceError, OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"\(PostgreSQL\) (\S+)", out)
    return match.group(1) if match else out.strip()


def status(settings: Settings) -> ServiceStatus:
    if settings.postgres.host:
        return _external_status(settings)
    p = paths(settings)
    pid, listening = _postmaster(p["data"])
    running = local.pid_alive(pid) and listening is not None and local.port_answers(listening)
    return ServiceStatus(
        NAME,
        running,
        pid=pid if running else None,
        port=listening if running else None,
        version=version(),
        data_dir=p["data"],
        log_file=p["log"],
    )


def up(settings: Settings) -> ServiceStatus:
    """Starts the server unless it already runs (then a no-op); ensures role and database."""
    if settings.postgres.host:
        found = _external_status(settings)
        return local.checked_external(found, f"PostgreSQL server {found.address} (postgres.host)")
    with local.service_lock(settings, NAME):
        current = status(settings)
        if current.running:
            _ensure_app_role(settings, current.port or 0)
            current.notes.append("already running")
            return current
        return _start(settings)


def down(settings: Settings) -> ServiceStatus:
    """Stops the local server (fast shutdown: sessions end, data is flushed)."""
    if settings.postgres.host:
        return local.left_external(_external_status(settings))
    with local.service_lock(settings, NAME):
        data = paths(settings)["data"]
        pid, _ = _postmaster(data)
        if local.pid_alive(pid):
            stop = [str(binaries() / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"]
            owner = pg_cluster.server_account(settings.postgres.os_user)
            pg_cluster.as_server_user(owner, [*stop, "-t", "60"])
        return status(settings)


def _start(settings: Settings) -> ServiceStatus:
    p = paths(settings)
    bindir = binaries()
    notes: list[str] = []
    state = local.read_state(settings, NAME)
    chosen = local.choose_port("PostgreSQL", settings.postgres.port, state.get("port"), notes)
    owner = pg_cluster.server_account(settings.postgres.os_user)
    if len(str(p["data"])) > 90:  # the Unix socket lives there; sun_path holds 107 bytes
        raise ServiceError(
            f"{p['data']} is too long a path for the server's socket; "
            "set ESTEIRA_HOME to a shorter folder"
        )
    if not (p["data"] / "PG_VERSION").exists():
        pg_cluster.init_cluster(bindir, p["data"], owner)
        notes.append(f"new cluster in {p['data']}")
    (p["data"] / "esteira.conf").write_text(
        f"listen_addresses = '{LOOPBACK}'\nport = {chosen}\n"
        f"unix_socket_directories = '{p['data']}'\n"
        + "".join(f"{k} = '{v}'\n" for k, v in settings.postgres.server_settings.items()),
        encoding="utf-8",
    )
    p["log"].touch()
    if os.geteuid() == 0:
        os.chown(p["data"] / "esteira.conf", owner.pw_uid, owner.pw_gid)
        os.chown(p["log"], owner.pw_uid, owner.pw_gid)
    state.update(port=chosen)
    local.write_state(settings, NAME, state)
    timeout = str(max(1, round(settings.postgres.start_timeout)))
    start = [str(bindir / "pg_ctl"), "start", "-D", str(p["data"]), "-l", str(p["log"]), "-w"]
    done = pg_cluster.as_server_user(owner, [*start, "-t", timeout], check=False)
    if done.returncode != 0 or not local.port_answers(chosen):
        raise ServiceError(
            f"PostgreSQL did not accept connections on {LOOPBACK}:{chosen} within {timeout} s; "
            f"see its log: {p['log']}"
        )
    _ensure_app_role(settings, chosen)
    found = status(settings)
    found.notes = notes + ["started"]
    return found


def _ensure_app_role(settings: Settings, listening: int) -> None:
    import psycopg

    cfg = settings.postgres
    try:
        pg_cluster.ensure_app_role(
            paths(settings)["data"],
            listening,
            pg_cluster.server_account(cfg.os_user).pw_name,
            cfg.user,
            cfg.database,
            password(settings),
        )
    except psycopg.Error as exc:
        raise ServiceError(
            f"could not set up role {cfg.user} and database {cfg.database} on the local "
            f"PostgreSQL ({exc.__class__.__name__}); see its log: {paths(settings)['log']}"
        ) from None


def _postmaster(data: Path) -> tuple[int | None, int | None]:
    """(pid, port) from postmaster.pid, which the running server keeps in its data dir."""
    try:
        lines = (data / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        return int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None, None


def _external_status(settings: Settings) -> ServiceStatus:
    import psycopg

    cfg = settings.postgres
    address = f"{cfg.host}:{cfg.port}"
    try:
        with psycopg.connect(
            host=cfg.host,
            port=cfg.port,
            dbname=cfg.database,
            user=cfg.user,
            password=password(settings),
            connect_timeout=10,
        ) as conn:
            found = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as exc:
        log.warning("PostgreSQL %s: %s", address, exc.__class__.__name__)
        return ServiceStatus(NAME, False, external=True, address=address)
    return ServiceStatus(NAME, True, external=True, address=address, version=found)
