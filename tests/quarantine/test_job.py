"""The build job on real files: rejects, snapshot, idempotent reruns, clear errors."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from esteira.errors import InputError, MissingColumnError
from esteira.quarantine import io, job

from .conftest import LOAD, PII_VALUES, SEED, write_xlsx

PII = PII_VALUES


def _crm(id_, sent, base=LOAD, email="cliente@exemplo.com", assunto="Campanha"):
    return {
        "id_cliente": id_,
        "email": email,
        "telefone": "11988887777",
        "assunto": assunto,
        "data_envio": sent,
        "data_base": base,
    }


def test_rejects_warnings_snapshot_and_latest_send(spark, qsettings, write_sources, caplog):
    crm = [
        _crm(1, date(2024, 5, 8)),
        _crm(1, date(2024, 5, 20), assunto="Mais recente"),  # the latest send wins
        _crm(2, date(2024, 5, 8), base=date(2024, 5, 27)),  # yesterday's snapshot: ignored
        _crm(None, date(2024, 5, 8)),  # null id -> rejects
        _crm(3, date(2024, 5, 30)),  # future -> rejects
        _crm(4, date(2024, 5, 9), email="sem-arroba.com"),  # warning only
    ]
    marketing = [{**SEED["marketing"][0], "data_envio": ""}]  # null data_envio -> rejects
    write_sources(qsettings.quarantine.sources_dir, crm=crm, marketing=marketing)

    with caplog.at_level(logging.DEBUG, logger="esteira"):
        result = job.run(qsettings, spark, job.BuildRequest(LOAD))

    counts = {c.canal: (c.lidos, c.rejeitados, c.em_quarentena) for c in result.channels}
    assert counts["CRM"] == (5, 2, 2)
    assert counts["Marketing"] == (1, 1, 0)
    assert result.warnings["email_invalido"] == 1
    assert result.warnings["telefone_invalido"] == 5  # the seed's 9-digit phones lack DDD
    crm_rows = io.read_quarantine(spark, qsettings.quarantine.table, LOAD).filter(
        F.col("canal") == "CRM"
    )
    assert sorted((r.id_cliente, r.assunto) for r in crm_rows.collect()) == [
        ("1", "Mais recente"),
        ("4", "Campanha"),
    ]
    rejects = io.read_rejects(spark, qsettings.quarantine.rejects)
    assert sorted((r.canal, r.id_cliente or "-", r.regra) for r in rejects.collect()) == [
        ("CRM", "-", "id_cliente_nulo"),
        ("CRM", "3", "data_envio_futura"),
        ("Marketing", "2345678901", "data_envio_nula"),
    ]
    assert not any(p in caplog.text for p in PII)


def test_rerun_replaces_only_its_date_and_keeps_history(spark, qsettings, write_sources):
    root = qsettings.quarantine.sources_dir
    write_sources(root)
    job.run(qsettings, spark, job.BuildRequest(LOAD))
    job.run(qsettings, spark, job.BuildRequest(date(2024, 5, 29)))  # another day: history
    first = sorted(io.read_quarantine(spark, qsettings.quarantine.table, LOAD).collect())

    # the same date again, after Marketing's file lost its row: only 2024-05-28 changes
    write_sources(root, marketing=[{**SEED["marketing"][0], "id_cliente": "777"}])
    job.run(qsettings, spark, job.BuildRequest(LOAD))
    table = io.read_quarantine(spark, qsettings.quarantine.table)
    by_date = {
        d: sorted((r.id_cliente, r.canal) for r in table.filter(F.col("data_carga") == d).collect())
        for d in (LOAD, date(2024, 5, 29))
    }
    assert ("777", "Marketing") in by_date[LOAD]
    assert ("2345678901", "Marketing") not in by_date[LOAD]
    assert ("2345678901", "Marketing") in by_date[date(2024, 5, 29)]
    assert len(by_date[LOAD]) == len(first) == 6

    # and once more unchanged: the same rows, no duplicates
    job.run(qsettings, spark, job.BuildRequest(LOAD))
    again = io.read_quarantine(spark, qsettings.quarantine.table, LOAD)
    assert sorted((r.id_cliente, r.canal) for r in again.collect()) == by_date[LOAD]


def _nothing_written(qsettings) -> bool:
    return not qsettings.quarantine.table.exists() and not qsettings.quarantine.rejects.exists()


def test_missing_source_file_names_the_source(spark, qsettings, write_sources):
    root = write_sources(qsettings.quarantine.sources_dir)
    (root / "marketing" / "marketing_data.csv").unlink()
    with pytest.raises(InputError) as err:
        job.run(qsettings, spark, job.BuildRequest(LOAD))
    assert "quarantine source marketing (Marketing)" in str(err.value)
    assert "does not exist" in str(err.value)
    assert _nothing_written(qsettings)


def test_missing_column_names_the_source_and_column(spark, qsettings, write_sources):
    root = write_sources(qsettings.quarantine.sources_dir)
    write_xlsx(
        root / "crm" / "crm_data.xlsx",
        [{k: v for k, v in SEED["crm"][0].items() if k != "data_base"}],
    )
    with pytest.raises(MissingColumnError) as err:
        job.run(qsettings, spark, job.BuildRequest(LOAD))
    message = str(err.value)
    assert "quarantine source crm (CRM)" in message and "data_base" in message
    assert not any(p in message for p in PII)
    assert _nothing_written(qsettings)


def test_missing_sheet_names_the_source_and_sheet(spark, qsettings, write_sources):
    write_sources(qsettings.quarantine.sources_dir)
    sources = dict(qsettings.quarantine.sources)
    sources["crm"] = sources["crm"].model_copy(update={"options": {"sheet": "Contatos"}})
    quarantine = qsettings.quarantine.model_copy(update={"sources": sources})
    with pytest.raises(InputError) as err:
        settings = qsettings.model_copy(update={"quarantine": quarantine})
        job.run(settings, spark, job.BuildRequest(LOAD))
    assert "quarantine source crm (CRM)" in str(err.value)
    assert "sheet 'Contatos' does not exist" in str(err.value)
    assert _nothing_written(qsettings)


def test_a_failed_run_leaves_the_earlier_table_as_it_was(spark, qsettings, write_sources):
    root = write_sources(qsettings.quarantine.sources_dir)
    job.run(qsettings, spark, job.BuildRequest(LOAD))
    before = sorted(io.read_quarantine(spark, qsettings.quarantine.table).collect())
    (root / "restritos" / "restritos.json").write_text(
        '{"id_cliente": "1", "contatos": {"email": "x@y.com"}}\n', encoding="utf-8"
    )
    with pytest.raises(MissingColumnError, match="quarantine source restritos"):
        job.run(qsettings, spark, job.BuildRequest(LOAD))
    assert sorted(io.read_quarantine(spark, qsettings.quarantine.table).collect()) == before


def test_a_duplicated_key_fails_the_run_before_writing(
    spark, qsettings, write_sources, monkeypatch
):
    from esteira.errors import QualityError
    from esteira.quarantine import transforms

    build = transforms.build_quarantine
    monkeypatch.setattr(  # a rule change that would emit a client twice on one channel
        transforms, "build_quarantine", lambda df, day: build(df, day).unionByName(build(df, day))
    )
    write_sources(qsettings.quarantine.sources_dir)
    with pytest.raises(QualityError, match="chave_unica"):
        job.run(qsettings, spark, job.BuildRequest(LOAD))
    assert _nothing_written(qsettings)


def test_requests_parse_dates_ids_and_channels(settings):
    from esteira.errors import ConfigError

    assert job.BuildRequest.parse(settings, "2024-05-28").load_date == LOAD
    assert job.BuildRequest.parse(settings).load_date == job.today(settings)
    with pytest.raises(InputError, match="--date: '28/05/2024' is not a date"):
        job.BuildRequest.parse(settings, "28/05/2024")
    assert job.CheckRequest.parse(settings, " 123 ", "2024-05-28") == job.CheckRequest("123", LOAD)
    paths = {"audience": Path("a.csv"), "out": Path("o.csv"), "suppressed_out": Path("s.csv")}
    request = job.FilterRequest.parse(settings, channel="Marketing", **paths)
    assert request.channel == "Marketing" and request.delimiter == ","
    with pytest.raises(ConfigError, match="unknown channel 'SMS'; configured: CRM, Fraude"):
        job.FilterRequest.parse(settings, channel="SMS", **paths)
