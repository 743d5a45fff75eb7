"""SharePoint file downloads through its REST API (office365-rest-python-client).

Locations look like sharepoint://tenant.sharepoint.com/sites/<site>/<library>/<file>:
the site is the first two path segments (/sites/x or /teams/x), the rest is the
server-relative file. Authentication: an app registration (client_id + client_secret)
or a bearer token, both only from the environment and never logged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict, SecretStr

from esteira.errors import ConfigError, InputError, ServiceError


class SharePointSettings(BaseModel):
    """Either client_id + ESTEIRA_..._CLIENT_SECRET, or ESTEIRA_..._TOKEN (bearer)."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["https", "http"] = "https"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    token: SecretStr | None = None


def split_location(url: str, scheme: str = "https") -> tuple[str, str]:
    """sharepoint://host/sites/s/Docs/f.xlsx -> ('https://host/sites/s', '/sites/s/Docs/f.xlsx')."""
    parsed = urlparse(url)
    parts = [p for p in unquote(parsed.path).split("/") if p]
    if parsed.scheme != "sharepoint" or not parsed.netloc or len(parts) < 3:
        raise InputError(url, "not a sharepoint://host/sites/<site>/<library>/<file> location")
    site = f"{scheme}://{parsed.netloc}/{parts[0]}/{parts[1]}"
    return site, "/" + "/".join(parts)


def _context(site: str, settings: SharePointSettings) -> Any:
    try:
        from office365.runtime.auth.token_response import TokenResponse
        from office365.sharepoint.client_context import ClientContext
    except ImportError as exc:
        raise ServiceError(
            "reading sharepoint:// needs office365-rest-python-client: pip install -e ."
        ) from exc
    # the library logs a full traceback (URLs, headers) for failures we report in one line
    logging.getLogger("office365").setLevel(logging.CRITICAL)
    ctx = ClientContext(site)
    if settings.token is not None:
        token = settings.token.get_secret_value()
        return ctx.with_access_token(lambda: TokenResponse(access_token=token, token_type="Bearer"))
    if settings.client_id and settings.client_secret is not None:
        return ctx.with_client_credentials(
            settings.client_id, settings.client_secret.get_secret_value()
        )
    raise ConfigError(
        "SharePoint needs ESTEIRA_QUARANTINE__SHAREPOINT__TOKEN, or client_id and "
        "ESTEIRA_QUARANTINE__SHAREPOINT__CLIENT_SECRET"
    )


def download(url: str, dest: Path, settings: SharePointSettings, name: str | None = None) -> Path:
    """Downloads one file into `dest`; returns its local path."""
    label = name or url
    site, relative = split_location(url, settings.scheme)
    ctx = _context(site, settings)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / Path(relative).name
    try:
        remote = ctx.web.get_file_by_server_relative_path(relative)
        with target.open("wb") as fh:
            remote.download(fh).execute_query()
    except Exception as exc:
        target.unlink(missing_ok=True)
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 404:
            raise InputError(label, f"{relative} does not exist on SharePoint") from None
        if status in (401, 403):
            raise ServiceError(f"{label}: SharePoint refused access (HTTP {status})") from None
        raise ServiceError(
            f"{label}: SharePoint download failed ({type(exc).__name__}"
            f"{f', HTTP {status}' if status else ''})"
        ) from None
    return target
