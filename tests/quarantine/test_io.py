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
    df = io.read_source(spark, qs, engine, "marketing", source, tmp_path / "stage")
    assert [r.subject for r in df.collect()] == ["Promoção"]


def test_unknown_encoding_and_non_delta_folder_name_the_source(spark, engine, tmp_path):
    qs = QuarantineSettings(sources_dir=tmp_path)
    (tmp_path / "mkt.csv").write_text("id_cliente\n1\n")
    source = qs.sources["marketing"].model_copy(
        update={"location": "mkt.csv", "options": {"encoding": "klingon"}}
    )
    with pytest.raises(InputError, match="quarantine source marketing .* unknown encoding"):
        io.read_source(spark, qs, engine, "marketing", source, tmp_path / "stage")
    (tmp_path / "ofertas").mkdir()
    with pytest.raises(InputError, match="quarantine source ofertas .* not a Delta table"):
        io.read_source(spark, qs, engine, "ofertas", qs.sources["ofertas"], tmp_path / "stage")
