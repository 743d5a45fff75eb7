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
import pwd
import re
import secrets
import shutil
import subprocess
from pathlib import Path

from esteira.errors import ServiceError
from esteira.services import local
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
        if not found.running:
            raise ServiceError(
                f"the PostgreSQL server {found.address} (postgres.host) does not answer"
            )
        return found
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
        found = _external_status(settings)
        found.notes.append("external: not stopped by esteira")
        return found
    with local.service_lock(settings, NAME):
        data = paths(settings)["data"]
        pid, _ = _postmaster(data)
        if local.pid_alive(pid):
            _as_server_user(
                settings,
                [
                    str(binaries() / "pg_ctl"),
                    "stop",
                    "-D",
                    str(data),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "60",
                ],
            )
        return status(settings)


def _start(settings: Settings) -> ServiceStatus:
    p = paths(settings)
    bindir = binaries()
    notes: list[str] = []
    state = local.read_state(settings, NAME)
    chosen = local.choose_port("PostgreSQL", settings.postgres.port, state.get("port"), notes)
    owner = _server_account(settings)
    if len(str(p["data"])) > 90:  # the Unix socket lives there; sun_path holds 107 bytes
        raise ServiceError(
            f"{p['data']} is too long a path for the server's socket; "
            "set ESTEIRA_HOME to a shorter folder"
        )
    if not (p["data"] / "PG_VERSION").exists():
        _init_cluster(settings, bindir, p["data"], owner)
        notes.append(f"new cluster in {p['data']}")
    (p["data"] / "esteira.conf").write_text(
        f"listen_addresses = '{LOOPBACK}'\nport = {chosen}\n"
        f"unix_socket_directories = '{p['data']}'\n",
        encoding="utf-8",
    )
    p["log"].touch()
    if os.geteuid() == 0:
        os.chown(p["data"] / "esteira.conf", owner.pw_uid, owner.pw_gid)
        os.chown(p["log"], owner.pw_uid, owner.pw_gid)
    state.update(port=chosen)
    local.write_state(settings, NAME, state)
    timeout = str(int(settings.postgres.start_timeout))
    done = _as_server_user(
        settings,
        [
            str(bindir / "pg_ctl"),
            "start",
            "-D",
            str(p["data"]),
            "-l",
            str(p["log"]),
            "-w",
            "-t",
            timeout,
        ],
        check=False,
    )
    if done.returncode != 0 or not local.port_answers(chosen):
        raise ServiceError(
            f"PostgreSQL did not accept connections on {LOOPBACK}:{chosen} within {timeout} s; "
            f"see its log: {p['log']}"
        )
    _ensure_app_role(settings, chosen)
    found = status(settings)
    found.notes = notes + ["started"]
    return found


def _init_cluster(settings: Settings, bindir: Path, data: Path, owner: pwd.struct_passwd) -> None:
    data.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(data, owner.pw_uid, owner.pw_gid)
    data.chmod(0o700)
    _check_reachable(settings, data, owner)
    _as_server_user(
        settings,
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
        ],
    )
    me = pwd.getpwuid(os.geteuid()).pw_name
    ident = {owner.pw_name, me}
    (data / "pg_ident.conf").write_text(
        "".join(f"esteira {name} {owner.pw_name}\n" for name in sorted(ident)), encoding="utf-8"
    )
    (data / "pg_hba.conf").write_text(
        "# written by esteira: socket for the server account (and esteira's), TCP on loopback\n"
        "local all all peer map=esteira\n"
        f"host all all {LOOPBACK}/32 scram-sha-256\n",
        encoding="utf-8",
    )
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write("\ninclude_if_exists = 'esteira.conf'\n")


def _ensure_app_role(settings: Settings, listening: int) -> None:
    """Creates (or re-keys) the application role and its database; idempotent."""
    import psycopg
    from psycopg import sql

    cfg = settings.postgres
    secret = password(settings)
    superuser = _server_account(settings).pw_name
    try:
        with psycopg.connect(
            host=str(paths(settings)["data"]),
            port=listening,
            user=superuser,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (cfg.user,)
            ).fetchone()
            verb = sql.SQL("ALTER" if exists else "CREATE")
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                    verb, sql.Identifier(cfg.user), sql.Literal(secret)
                )
            )
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (cfg.database,)
            ).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(cfg.database), sql.Identifier(cfg.user)
                    )
                )
    except psycopg.Error as exc:
        raise ServiceError(
            f"could not set up role {cfg.user} and database {cfg.database} on the local "
            f"PostgreSQL ({exc.__class__.__name__}); see its log: {paths(settings)['log']}"
        ) from None


def _server_account(settings: Settings) -> pwd.struct_passwd:
    """The account that owns and runs the server: os_user when root, else ourselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(settings.postgres.os_user)
    except KeyError:
        raise ServiceError(
            f"running as root, the PostgreSQL server needs the unprivileged account "
            f"{settings.postgres.os_user!r}, which does not exist (the postgresql package "
            f"creates `postgres`; or set postgres.os_user)"
        ) from None


def _check_reachable(settings: Settings, data: Path, owner: pwd.struct_passwd) -> None:
    if os.geteuid() != 0:
        return
    probe = subprocess.run(
        ["test", "-w", str(data)],
        user=owner.pw_uid,
        group=owner.pw_gid,
        extra_groups=[],
        check=False,
    )
    if probe.returncode != 0:
        raise ServiceError(
            f"the PostgreSQL server runs as {owner.pw_name}, which cannot reach {data}: make "
            "its parent folders traversable (chmod o+x) or set ESTEIRA_HOME elsewhere"
        )


def _as_server_user(settings: Settings, argv: list[str], check: bool = True):
    """Runs a PostgreSQL tool as the server account, detached from our terminal session."""
    owner = _server_account(settings)
    extra = {}
    if os.geteuid() == 0:
        extra = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C.UTF-8",
        "HOME": owner.pw_dir,
    }
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        start_new_session=True,
        check=False,
        **extra,
    )
    if check and done.returncode != 0:
        tool = Path(argv[0]).name
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ServiceError(f"PostgreSQL {tool} failed: {detail[0]}")
    return done


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
