"""The local PostgreSQL cluster on disk and the account that runs it.

Run as root, every server tool runs as an unprivileged account; the cluster is made by
initdb with peer authentication on its Unix socket (the server account and the account
running esteira both map to the superuser) and scram-sha-256 for TCP on loopback.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from esteira.errors import ServiceError
from esteira.services.local import LOOPBACK


def init_cluster(bindir: Path, data: Path, owner: pwd.struct_passwd) -> None:
    """initdb as the server account; peer on the socket (mapped), scram on loopback TCP."""
    data.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(data, owner.pw_uid, owner.pw_gid)
    data.chmod(0o700)
    _check_reachable(data, owner)
    as_server_user(
        owner,
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


def server_account(os_user: str) -> pwd.struct_passwd:
    """The account that owns and runs the server: os_user when root, else ourselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(os_user)
    except KeyError:
        raise ServiceError(
            f"running as root, the PostgreSQL server needs the unprivileged account "
            f"{os_user!r}, which does not exist (the postgresql package "
            f"creates `postgres`; or set postgres.os_user)"
        ) from None


def _check_reachable(data: Path, owner: pwd.struct_passwd) -> None:
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


def as_server_user(
    owner: pwd.struct_passwd, argv: list[str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Runs a PostgreSQL tool as the server account, detached from our terminal session."""
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


def ensure_app_role(
    socket_dir: Path, port: int, superuser: str, role: str, database: str, secret: str
) -> None:
    """Creates (or re-keys) the application role and its database; idempotent.

    The superuser logs in over the Unix socket (peer, mapped), so no admin password exists.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=str(socket_dir),
        port=port,
        user=superuser,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = sql.SQL("ALTER" if exists else "CREATE")
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                verb, sql.Identifier(role), sql.Literal(secret)
            )
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
