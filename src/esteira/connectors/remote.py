"""Remote sources (S3, SFTP, SharePoint) downloaded into a local folder for the engine.

SFTP and SharePoint are always downloaded; S3 is downloaded only when the reader cannot
reach it (see `esteira.connectors.s3`). Local paths are returned as they are, after an
existence check that names the source.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from esteira.connectors import s3, sftp, sharepoint
from esteira.errors import InputError

REMOTE_SCHEMES = ("s3", "s3a", "sftp", "sharepoint")


def scheme(location: str) -> str:
    return urlparse(location).scheme if "://" in location else "file"


def fetch(
    location: str,
    dest: Path,
    *,
    name: str,
    sftp_settings: sftp.SftpSettings | None = None,
    sharepoint_settings: sharepoint.SharePointSettings | None = None,
) -> Path:
    """A local path holding the source's data (downloaded into `dest` when remote)."""
    kind = scheme(location)
    if kind in ("s3", "s3a"):
        return s3.download(location, dest, name)
    if kind == "sftp":
        return sftp.download(location, dest, sftp_settings or sftp.SftpSettings(), name)
    if kind == "sharepoint":
        return sharepoint.download(
            location, dest, sharepoint_settings or sharepoint.SharePointSettings(), name
        )
    if kind != "file":
        raise InputError(
            name, f"unsupported location scheme {kind}:// ({', '.join(REMOTE_SCHEMES)})"
        )
    path = Path(location.removeprefix("file://"))
    if not path.exists():
        raise InputError(name, f"{path} does not exist")
    return path
