"""S3 objects: listing and downloading with boto3 (credentials from the AWS_* environment).

Sail reads s3:// itself and JVM Spark reads s3a:// through hadoop-aws (`s3a_conf` maps
the same AWS_* variables onto fs.s3a.*); this module checks that a location holds
objects (an empty prefix would otherwise read as an empty table) and downloads a
location into a local folder for the readers that cannot reach S3 (xlsx, re-encoding).
The endpoint (AWS_ENDPOINT_URL), keys and region come only from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from esteira.errors import InputError, ServiceError


def split_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
        raise InputError(url, "not an s3://bucket/key location")
    return parsed.netloc, parsed.path.lstrip("/")


def s3a_conf(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Hadoop S3A settings (fs.s3a.*) for the AWS_* variables boto3 and Sail read.

    A custom endpoint (MinIO, moto, ...) gets path-style access, and plain http turns
    SSL off; keys in the environment are handed over as S3A's simple (or temporary,
    with a session token) credentials, otherwise S3A's default provider chain applies.
    Spark redacts these keys (secret, token, access.key) wherever it prints its conf.
    """
    env = os.environ if environ is None else environ
    conf: dict[str, str] = {}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        conf["fs.s3a.endpoint"] = endpoint
        conf["fs.s3a.path.style.access"] = "true"
        conf["fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https")).lower()
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        conf["fs.s3a.endpoint.region"] = region
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        conf["fs.s3a.access.key"] = key
        conf["fs.s3a.secret.key"] = secret
        token = env.get("AWS_SESSION_TOKEN")
        provider = "TemporaryAWSCredentialsProvider" if token else "SimpleAWSCredentialsProvider"
        conf["fs.s3a.aws.credentials.provider"] = f"org.apache.hadoop.fs.s3a.{provider}"
        if token:
            conf["fs.s3a.session.token"] = token
    return conf


def use_s3a(session: Any) -> None:
    """Points a running JVM session's S3A at the current AWS_* environment.

    The JVM read the variables when it started; a later change (another endpoint or
    keys) reaches the readers through session confs, which Spark copies into the Hadoop
    configuration of each read. S3A caches one filesystem per bucket, so a bucket
    already opened keeps the settings it was opened with.
    """
    for name, value in s3a_conf().items():
        session.conf.set(name, value)


def _client() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise ServiceError("reading s3:// needs boto3: pip install -e . (boto3)") from exc
    return boto3.client("s3")


def list_keys(url: str, name: str | None = None) -> list[str]:
    """Keys at the location: the object itself, or every object under the folder."""
    label = name or url
    bucket, key = split_url(url)
    client = _client()
    prefix = key.rstrip("/")
    keys: list[str] = []
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                k = obj["Key"]
                if (k == prefix or not prefix or k.startswith(prefix + "/")) and not k.endswith(
                    "/"
                ):
                    keys.append(k)
    except Exception as exc:
        raise _error(exc, label, bucket) from None
    if not keys:
        raise InputError(label, f"no objects at s3://{bucket}/{key}")
    return keys


def download(url: str, dest: Path, name: str | None = None) -> Path:
    """Downloads the object (or folder) into `dest`; returns the local file or folder."""
    label = name or url
    bucket, key = split_url(url)
    keys = list_keys(url, label)
    prefix = key.rstrip("/")
    client = _client()
    dest.mkdir(parents=True, exist_ok=True)
    single = keys == [prefix]
    try:
        for k in keys:
            rel = Path(k).name if single else k[len(prefix) :].lstrip("/")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, k, str(target))
    except Exception as exc:
        raise _error(exc, label, bucket) from None
    return dest / Path(prefix).name if single else dest


def _error(exc: Exception, label: str, bucket: str) -> Exception:
    code = (
        getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if hasattr(exc, "response")
        else ""
    )
    if code in ("NoSuchBucket", "404"):
        return InputError(label, f"bucket {bucket} does not exist")
    if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
        return ServiceError(f"{label}: S3 refused access ({code}); check the AWS_* variables")
    return ServiceError(f"{label}: S3 is not reachable ({type(exc).__name__})")
