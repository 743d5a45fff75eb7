"""S3 against moto's S3 server on loopback: listing, downloads, and reads by both engines
(Sail reads s3:// itself; JVM Spark reads s3a:// through hadoop-aws; nothing is staged)."""

from __future__ import annotations

import io
import uuid

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from esteira.connectors import s3
from esteira.errors import InputError
from esteira.quarantine import io as qio
from esteira.quarantine.config import QuarantineSettings

from .remote_servers import s3_server


@pytest.fixture
def bucket(monkeypatch):
    with s3_server(monkeypatch):
        name = f"lake-{uuid.uuid4().hex[:8]}"
        client = boto3.client("s3")
        client.create_bucket(Bucket=name)
        buf = io.BytesIO()
        pq.write_table(
            pa.table(
                {
                    "id_cliente": ["1", "2"],
                    "email": ["a@b.com", None],
                    "telefone": ["11988887777", None],
                    "assunto": ["Novo Produto", "Seguro"],
                    "data_envio": ["2024-05-18", "2024-05-20"],
                }
            ),
            buf,
        )
        client.put_object(Bucket=name, Key="recomendacao/part-0.parquet", Body=buf.getvalue())
        client.put_object(
            Bucket=name,
            Key="restritos/r.json",
            Body=b'{"id_cliente":"9","contatos":{"email":"x@y.com"}}\n',
        )
        yield name


def test_lists_and_downloads_a_folder_and_a_file(bucket, tmp_path):
    assert s3.list_keys(f"s3://{bucket}/recomendacao") == ["recomendacao/part-0.parquet"]
    folder = s3.download(f"s3://{bucket}/recomendacao/", tmp_path / "a")
    assert pq.read_table(folder / "part-0.parquet").num_rows == 2
    single = s3.download(f"s3://{bucket}/restritos/r.json", tmp_path / "b")
    assert single == tmp_path / "b" / "r.json" and single.read_bytes().startswith(b"{")


def test_empty_prefix_and_missing_bucket_name_the_source(bucket):
    with pytest.raises(InputError, match="fonte x: no objects at s3://.*/nada"):
        s3.list_keys(f"s3://{bucket}/nada", name="fonte x")
    with pytest.raises(InputError, match="bucket nao-existe does not exist"):
        s3.list_keys("s3://nao-existe/x", name="fonte x")


def test_engine_reads_a_source_on_s3(spark, engine, bucket, tmp_path):
    qs = QuarantineSettings(staging=tmp_path / "stage")
    source = qs.sources["recomendacao"].model_copy(
        update={"location": f"s3://{bucket}/recomendacao"}
    )
    df = qio.read_source(spark, qs, engine, "recomendacao", source, tmp_path / "stage")
    assert sorted(r.id_cliente for r in df.collect()) == ["1", "2"]
    assert not (tmp_path / "stage" / "recomendacao").exists()  # read where it is
    scheme = "s3a://" if engine == "spark" else "s3://"
    assert all(f.startswith(scheme) for f in df.inputFiles())


def test_engine_reads_a_csv_object_in_place(spark, engine, bucket, tmp_path):
    boto3.client("s3").put_object(
        Bucket=bucket,
        Key="envios/envios.csv",
        Body=b"id_cliente;email;telefone;assunto;data_envio\n7;;;Seguro;2024-05-18\n",
    )
    qs = QuarantineSettings(staging=tmp_path / "stage")
    source = qs.sources["recomendacao"].model_copy(
        update={
            "location": f"s3://{bucket}/envios/envios.csv",
            "format": "csv",
            "options": {"header": "true", "delimiter": ";"},
        }
    )
    df = qio.read_source(spark, qs, engine, "envios", source, tmp_path / "stage")
    assert [(r.id_cliente, r.assunto) for r in df.collect()] == [("7", "Seguro")]
    assert not (tmp_path / "stage" / "envios").exists()


def test_s3_native_never_reads_a_staged_copy(spark, engine, bucket, tmp_path):
    qs = QuarantineSettings(staging=tmp_path / "stage", s3_native="never")
    source = qs.sources["recomendacao"].model_copy(
        update={"location": f"s3://{bucket}/recomendacao"}
    )
    df = qio.read_source(spark, qs, engine, "recomendacao", source, tmp_path / "stage")
    assert df.count() == 2
    assert (tmp_path / "stage" / "recomendacao" / "part-0.parquet").is_file()


def test_s3a_conf_maps_the_aws_environment():
    conf = s3.s3a_conf(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AWS_REGION": "sa-east-1",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
        }
    )
    assert conf["fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert conf["fs.s3a.path.style.access"] == "true"
    assert conf["fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["fs.s3a.endpoint.region"] == "sa-east-1"
    assert conf["fs.s3a.access.key"] == "k" and conf["fs.s3a.secret.key"] == "s"
    assert conf["fs.s3a.aws.credentials.provider"].endswith("SimpleAWSCredentialsProvider")
    temporary = s3.s3a_conf(
        {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}
    )
    assert temporary["fs.s3a.aws.credentials.provider"].endswith("TemporaryAWSCredentialsProvider")
    assert s3.s3a_conf({}) == {}  # AWS: S3A's default endpoint and provider chain


def test_nested_json_source_with_a_missing_field_names_it(spark, engine, bucket, tmp_path):
    qs = QuarantineSettings()
    source = qs.sources["restritos"].model_copy(update={"location": f"s3://{bucket}/restritos"})
    with pytest.raises(InputError) as err:
        qio.read_source(spark, qs, engine, "restritos", source, tmp_path / "stage")
    assert "quarantine source restritos (Restritos)" in str(err.value)
    assert "contatos.numero_telefone" in str(err.value)
