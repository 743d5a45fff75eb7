"""Source reading details: encodings, nested paths, Delta folders (both engines)."""

from __future__ import annotations

import pytest

from esteira.errors import InputError
from esteira.quarantine import io
from esteira.quarantine.config import QuarantineSettings


def test_latin1_csv_is_read_as_utf8(spark, engine, tmp_path):
    qs = QuarantineSettings(sources_dir=tmp_path)
    source = qs.sources["marketing"].model_copy(
        update={"location": "mkt.csv", "options": {"delimiter": ";", "encoding": "ISO-8859-1"}}
    )
    (tmp_path / "mkt.csv").write_bytes(
        "id_cliente;email;telefone;subject;data_envio\n1;a@b.com;;Promoção;2024-05-24\n".encode(
            "latin-1"
        )
    )
    df = io.read_source(spark, qs, engine, "marketing", source, tmp_path / "downloads")
    assert [r.subject for r in df.collect()] == ["Promoção"]


def test_unknown_encoding_and_non_delta_folder_name_the_source(spark, engine, tmp_path):
    qs = QuarantineSettings(sources_dir=tmp_path)
    (tmp_path / "mkt.csv").write_text("id_cliente\n1\n")
    source = qs.sources["marketing"].model_copy(
        update={"location": "mkt.csv", "options": {"encoding": "klingon"}}
    )
    with pytest.raises(InputError, match="quarantine source marketing .* unknown encoding"):
        io.read_source(spark, qs, engine, "marketing", source, tmp_path / "downloads")
    (tmp_path / "ofertas").mkdir()
    with pytest.raises(InputError, match="quarantine source ofertas .* not a Delta table"):
        io.read_source(spark, qs, engine, "ofertas", qs.sources["ofertas"], tmp_path / "downloads")


@pytest.mark.parametrize(
    ("mode", "engine_name", "jars", "native"),
    [
        ("auto", "sail", "", True),  # Sail reads s3:// itself
        ("auto", "spark", "/jars/delta-spark_2.13-4.0.0.jar,/jars/hadoop-aws-3.4.2.jar", True),
        ("auto", "spark", "org.apache.hadoop:hadoop-aws:3.4.2", True),  # spark.jars.packages
        ("auto", "spark", "/jars/delta-spark_2.13-4.0.0.jar", False),  # no S3A reader
        ("auto", "spark", "", False),
        ("always", "spark", "", True),
        ("always", "sail", "", True),
        ("never", "sail", "", False),
        ("never", "spark", "/jars/hadoop-aws-3.4.2.jar", False),
    ],
)
def test_s3_native_auto_reads_in_place_only_where_the_engine_can(mode, engine_name, jars, native):
    assert io.reads_s3_natively(mode, engine_name, jars) is native


def test_the_jvm_session_has_the_s3a_reader(spark, engine):
    if engine == "spark":  # `make jars` puts hadoop-aws among the JVM's jars
        assert "hadoop-aws" in io.session_jars(spark)


def test_the_downloads_folder_is_removed_whatever_the_outcome(tmp_path):
    root = tmp_path / "downloads"
    with pytest.raises(RuntimeError), io.downloads_folder(root, "run1") as folder:
        (folder / "crm").mkdir(parents=True)
        (folder / "crm" / "crm_data.xlsx").write_bytes(b"x")
        raise RuntimeError("a source failed")
    assert not root.exists()
    (root / "other-run").mkdir(parents=True)  # another run's folder stays
    with io.downloads_folder(root, "run2") as folder:
        folder.mkdir()
    assert [p.name for p in root.iterdir()] == ["other-run"]
