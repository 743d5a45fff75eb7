"""SFTP downloads with paramiko (e.g. Salesforce Marketing Cloud exports).

Locations look like sftp://[user@]host[:port]/path/to/file.csv (a file or a folder).
The password (ESTEIRA_QUARANTINE__SFTP__PASSWORD or any SecretStr) is never logged; host
keys are checked against a known_hosts file unless `trust_new_hosts` is set.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from esteira.errors import InputError, ServiceError, first_line

log = logging.getLogger(__name__)


class SftpSettings(BaseModel):
    """SFTP login; the password comes only from the environment (a SecretStr)."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = None
    password: SecretStr | None = None
    key_file: Path | None = None
    known_hosts: Path | None = Field(
        None, description="known_hosts file; unknown host keys are refused unless trust_new_hosts"
    )
    trust_new_hosts: bool = False
    timeout_s: float = 30.0


def _paramiko() -> Any:
    try:
        import paramiko
    except ImportError as exc:
        raise ServiceError("reading sftp:// needs paramiko: pip install -e . (paramiko)") from exc
    return paramiko


def download(url: str, dest: Path, settings: SftpSettings, name: str | None = None) -> Path:
    """Downloads a file or a folder (recursively) into `dest`; returns the local path."""
    label = name or url
    parsed = urlparse(url)
    if parsed.scheme != "sftp" or not parsed.hostname:
        raise InputError(label, "not an sftp://host/path location")
    if parsed.password:
        raise InputError(label, "a password in the location is refused; use the environment")
    host, port = parsed.hostname, parsed.port or 22
    user = unquote(parsed.username) if parsed.username else settings.username
    remote = unquote(parsed.path) or "/"
    paramiko = _paramiko()
    client = paramiko.SSHClient()
    if settings.known_hosts:
        client.load_host_keys(str(settings.known_hosts))
    else:
        client.load_system_host_keys()
    client.set_missing_host_key_policy(
        paramiko.AutoAddPolicy() if settings.trust_new_hosts else paramiko.RejectPolicy()
    )
    try:
        client.connect(
            host,
            port=port,
            username=user,
            password=settings.password.get_secret_value() if settings.password else None,
            key_filename=str(settings.key_file) if settings.key_file else None,
            timeout=settings.timeout_s,
            allow_agent=False,
            look_for_keys=False,
        )
    except paramiko.AuthenticationException:
        raise ServiceError(f"{label}: SFTP login refused for user {user!r}") from None
    except paramiko.SSHException as exc:
        raise ServiceError(f"{label}: SFTP handshake failed ({first_line(exc)[:200]})") from None
    except OSError as exc:
        raise ServiceError(
            f"{label}: SFTP server {host}:{port} not reachable ({exc.strerror or exc})"
        ) from None
    try:
        sftp = client.open_sftp()
        try:
            info = sftp.stat(remote)
        except FileNotFoundError:
            raise InputError(label, f"{remote} does not exist on the SFTP server") from None
        dest.mkdir(parents=True, exist_ok=True)
        if stat.S_ISDIR(info.st_mode or 0):
            _get_tree(sftp, remote, dest)
            return dest
        target = dest / Path(remote).name
        sftp.get(remote, str(target))
        log.info("downloaded %s bytes over SFTP", f"{target.stat().st_size:,}")
        return target
    finally:
        client.close()


def _get_tree(sftp: Any, remote: str, dest: Path) -> None:
    for entry in sftp.listdir_attr(remote):
        path = f"{remote.rstrip('/')}/{entry.filename}"
        if stat.S_ISDIR(entry.st_mode or 0):
            (dest / entry.filename).mkdir(exist_ok=True)
            _get_tree(sftp, path, dest / entry.filename)
        else:
            sftp.get(path, str(dest / entry.filename))
