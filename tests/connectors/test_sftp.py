"""SFTP downloads against a real SSH server (paramiko) on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from esteira.connectors import sftp
from esteira.errors import InputError, ServiceError

from .remote_servers import sftp_server


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "remote"
    (root / "exports" / "parte").mkdir(parents=True)
    (root / "exports" / "marketing_data.csv").write_text("id_cliente;subject\n1;Oi\n")
    (root / "exports" / "parte" / "b.csv").write_text("x\n")
    with sftp_server(root, tmp_path) as srv:
        yield srv


def _settings(server, **changes) -> sftp.SftpSettings:
    base = {
        "username": server.user,
        "password": SecretStr(server.password),
        "known_hosts": server.known_hosts,
        "timeout_s": 10,
    }
    return sftp.SftpSettings(**{**base, **changes})


def _url(server, path: str) -> str:
    return f"sftp://{server.host}:{server.port}{path}"


def test_downloads_a_file_and_a_folder(server, tmp_path):
    got = sftp.download(
        _url(server, "/exports/marketing_data.csv"), tmp_path / "a", _settings(server)
    )
    assert got == tmp_path / "a" / "marketing_data.csv"
    assert got.read_text() == "id_cliente;subject\n1;Oi\n"
    folder = sftp.download(_url(server, "/exports"), tmp_path / "b", _settings(server))
    assert (folder / "marketing_data.csv").is_file() and (folder / "parte" / "b.csv").is_file()


def test_missing_remote_file_names_the_source(server, tmp_path):
    with pytest.raises(InputError, match="fonte mkt: /exports/nada.csv does not exist"):
        sftp.download(
            _url(server, "/exports/nada.csv"), tmp_path, _settings(server), name="fonte mkt"
        )


def test_wrong_password_is_refused_without_echoing_it(server, tmp_path):
    with pytest.raises(ServiceError) as err:
        sftp.download(
            _url(server, "/exports"),
            tmp_path,
            _settings(server, password=SecretStr("errada-123")),
            name="mkt",
        )
    assert "login refused" in str(err.value) and "errada-123" not in str(err.value)


def test_unknown_host_key_is_refused(server, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(ServiceError, match="handshake failed|not reachable|refused"):
        sftp.download(
            _url(server, "/exports"),
            tmp_path / "x",
            _settings(server, known_hosts=empty),
            name="mkt",
        )


def test_password_in_the_location_is_refused(tmp_path):
    with pytest.raises(InputError, match="password in the location"):
        sftp.download("sftp://u:segredo@127.0.0.1/x.csv", tmp_path, sftp.SftpSettings())
