"""SharePoint downloads against a local HTTP server answering its REST calls."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from esteira.connectors import sharepoint
from esteira.errors import ConfigError, InputError, ServiceError

from .remote_servers import sharepoint_server

FILE = "/sites/crm/Shared Documents/Relacionamento/crm_data.xlsx"


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "sp"
    local = root / FILE.lstrip("/")
    local.parent.mkdir(parents=True)
    local.write_bytes(b"PK\x03\x04 not really a workbook")
    with sharepoint_server(root) as srv:
        yield srv


def _url(server, path: str = FILE) -> str:
    return f"sharepoint://{server.host}:{server.port}{path}"


def _settings(token: str) -> sharepoint.SharePointSettings:
    return sharepoint.SharePointSettings(scheme="http", token=SecretStr(token))


def test_split_location():
    assert sharepoint.split_location("sharepoint://empresa.sharepoint.com" + FILE) == (
        "https://empresa.sharepoint.com/sites/crm",
        FILE,
    )
    with pytest.raises(InputError, match="not a sharepoint://"):
        sharepoint.split_location("sharepoint://empresa.sharepoint.com/arquivo.xlsx")


def test_downloads_the_file_through_the_rest_api(server, tmp_path):
    got = sharepoint.download(_url(server), tmp_path / "d", _settings(server.token))
    assert got.read_bytes() == b"PK\x03\x04 not really a workbook"
    assert any("/_api/contextInfo" in r for r in server.requests)
    assert any(r.endswith("/$value") for r in server.requests)


def test_missing_file_names_the_source(server, tmp_path):
    with pytest.raises(InputError, match="fonte crm: .*nada.xlsx does not exist on SharePoint"):
        sharepoint.download(
            _url(server, "/sites/crm/Shared Documents/nada.xlsx"),
            tmp_path,
            _settings(server.token),
            name="fonte crm",
        )
    assert not (tmp_path / "nada.xlsx").exists()


def test_bad_token_is_refused_without_echoing_it(server, tmp_path):
    with pytest.raises(ServiceError) as err:
        sharepoint.download(_url(server), tmp_path, _settings("token-errado-42"), name="crm")
    assert "refused access" in str(err.value) and "token-errado-42" not in str(err.value)


def test_credentials_are_required():
    with pytest.raises(ConfigError, match="SHAREPOINT__TOKEN"):
        sharepoint.download("sharepoint://h" + FILE, Path("/tmp"), sharepoint.SharePointSettings())
