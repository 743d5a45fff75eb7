"""The worked example again, with CRM on SharePoint, Marketing on SFTP and Recomendacao
and Restritos on S3, each served by a real server on loopback (both engines)."""

from __future__ import annotations

import uuid

import boto3
from pydantic import SecretStr
from pyspark.testing import assertDataFrameEqual

from connectors.remote_servers import s3_server, sftp_server, sharepoint_server
from esteira.quarantine import io, job

from .conftest import LOAD
from .test_worked_example import EXPECTED, SCHEMA

SP_FILE = "/sites/crm/Shared Documents/crm_data.xlsx"


def test_build_from_sharepoint_sftp_and_s3(spark, qsettings, write_sources, tmp_path, monkeypatch):
    local = write_sources(tmp_path / "origem")
    # SharePoint holds the CRM workbook, the SFTP server the Marketing export
    sp_root = tmp_path / "sp"
    (sp_root / SP_FILE.lstrip("/")).parent.mkdir(parents=True)
    (sp_root / SP_FILE.lstrip("/")).write_bytes((local / "crm" / "crm_data.xlsx").read_bytes())
    with (
        s3_server(monkeypatch),
        sftp_server(local / "marketing", tmp_path) as ssh,
        sharepoint_server(sp_root) as sp,
    ):
        bucket = f"dados-{uuid.uuid4().hex[:8]}"
        client = boto3.client("s3")
        client.create_bucket(Bucket=bucket)
        for folder in ("recomendacao", "restritos"):
            for f in (local / folder).iterdir():
                client.upload_file(str(f), bucket, f"{folder}/{f.name}")
        q = qsettings.quarantine
        sources = dict(q.sources)
        moves = {
            "crm": f"sharepoint://{sp.host}:{sp.port}{SP_FILE}",
            "marketing": f"sftp://{ssh.user}@{ssh.host}:{ssh.port}/marketing_data.csv",
            "recomendacao": f"s3://{bucket}/recomendacao",
            "restritos": f"s3://{bucket}/restritos/",
            "ofertas": str(local / "ofertas"),
            "fraude": str(local / "fraude"),
        }
        for key, location in moves.items():
            sources[key] = sources[key].model_copy(update={"location": location})
        q = q.model_copy(
            update={
                "sources": sources,
                "sftp": q.sftp.model_copy(
                    update={"password": SecretStr(ssh.password), "known_hosts": ssh.known_hosts}
                ),
                "sharepoint": q.sharepoint.model_copy(
                    update={"scheme": "http", "token": SecretStr(sp.token)}
                ),
            }
        )
        settings = qsettings.model_copy(update={"quarantine": q})
        result = job.run(settings, spark, job.BuildRequest(LOAD))

    assert result.total == 6
    expected = spark.createDataFrame(EXPECTED, SCHEMA)
    assertDataFrameEqual(io.read_quarantine(spark, q.table), expected)
    # the downloads (and the staged frames) are removed after the run
    assert not q.downloads.exists() and not q.staging.exists()
