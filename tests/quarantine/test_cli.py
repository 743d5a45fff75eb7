"""build / check / filter / datagen through the CLI, on real files (both engines)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from esteira.datagen.quarantine import split_rows

from .conftest import PII_VALUES

CLIENTS = {
    "crm": "1234567890",
    "marketing": "2345678901",
    "fraude": "4567890123",
    "restritos": "4888888800",
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Points the quarantine tables, staging and downloads at tmp_path for in-process CLI runs."""
    folders = (
        ("TABLE", "lake/q"), ("REJECTS", "lake/r"), ("STAGING", "stage"), ("DOWNLOADS", "down")
    )
    for key, sub in folders:
        monkeypatch.setenv(f"ESTEIRA_QUARANTINE__{key}", str(tmp_path / sub))
    return tmp_path


def test_build_check_and_filter(run_cli, write_sources, env):
    sources = write_sources(env / "fontes")
    code, out, err = run_cli("quarantine", "build", "--date", "2024-05-28", "--sources", sources)
    assert code == 0, err
    assert "quarentena_global em 28/05/2024" in out
    assert "Restritos" in out and "total" in out
    assert not any(p in out + err for p in PII_VALUES)

    code, out, _ = run_cli("quarantine", "check", "--id", CLIENTS["crm"], "--date", "2024-05-28")
    assert code == 0
    assert "CRM: Campanha; enviado em 08/05/2024, livre a partir de 07/06/2024" in out
    code, out, _ = run_cli("quarantine", "check", "--id", CLIENTS["fraude"], "--date", "2024-05-28")
    assert "Fraude: Suspeita de fraude" in out and "até a exclusão na origem" in out
    code, out, _ = run_cli("quarantine", "check", "--id", "42", "--date", "2024-05-28")
    assert code == 0 and "fora de quarentena" in out

    audience = env / "campanha.csv"
    ids = [CLIENTS["crm"], CLIENTS["marketing"], CLIENTS["fraude"], CLIENTS["restritos"], "42"]
    audience.write_text("id_cliente,nome\n" + "".join(f"{i},N{i}\n" for i in ids))
    code, out, err = run_cli(
        "quarantine",
        "filter",
        "--audience",
        audience,
        "--channel",
        "Marketing",
        "--out",
        env / "liberados.csv",
        "--suppressed",
        env / "suprimidos.csv",
        "--date",
        "2024-05-28",
    )
    assert code == 0, err
    assert "2 liberados" in out and "3 suprimidos" in out
    allowed = (env / "liberados.csv").read_text().splitlines()
    assert allowed[0] == "id_cliente,nome"
    assert sorted(allowed[1:]) == ["1234567890,N1234567890", "42,N42"]
    suppressed = sorted((env / "suprimidos.csv").read_text().splitlines()[1:])
    assert suppressed == [
        "2345678901,N2345678901,Marketing: Email boas vindas,2024-05-31",
        "4567890123,N4567890123,Fraude: Suspeita de fraude,",
        "4888888800,N4888888800,Restritos: Reclamação,2024-05-30",
    ]

    # parquet in, parquet out; CRM campaign: the CRM client is suppressed too
    pq.write_table(pa.table({"id_cliente": [int(i) for i in ids]}), env / "campanha.parquet")
    code, out, err = run_cli(
        "quarantine",
        "filter",
        "--audience",
        env / "campanha.parquet",
        "--channel",
        "CRM",
        "--out",
        env / "ok.parquet",
        "--suppressed",
        env / "no.parquet",
        "--date",
        "2024-05-28",
    )
    assert code == 0, err
    assert sorted(pq.read_table(env / "ok.parquet")["id_cliente"].to_pylist()) == [
        "2345678901",
        "42",
    ]
    blocked = pq.read_table(env / "no.parquet").to_pylist()
    assert {r["id_cliente"]: r["motivo"] for r in blocked} == {
        "1234567890": "CRM: Campanha",
        "4567890123": "Fraude: Suspeita de fraude",
        "4888888800": "Restritos: Reclamação",
    }


def test_clear_errors(run_cli, env):
    code, _, err = run_cli("quarantine", "check", "--id", "1", "--date", "2024-05-28")
    assert code == 2 and "run `esteira quarantine build` first" in err
    code, _, err = run_cli("quarantine", "build", "--date", "28/05/2024")
    assert code == 2 and "--date" in err
    code, _, err = run_cli("quarantine", "build", "--date", "2024-05-28", "--sources", env / "x")
    assert code == 2 and "quarantine source crm (CRM)" in err and "does not exist" in err
    assert "Traceback" not in err


def test_datagen_sources_build_with_every_reject_rule(run_cli, env, spark):
    code, _, err = run_cli(
        "datagen", "quarantine", "--rows", "4000", "--date", "2024-05-28", "--out", env / "gen"
    )
    assert code == 0, err
    assert (env / "gen" / "crm" / "crm_data.xlsx").is_file()
    lines = (env / "gen" / "marketing" / "marketing_data.csv").read_text().splitlines()
    assert lines[0] == "id_cliente;email;telefone;subject;data_envio"
    assert len(lines) == 1 + split_rows(4000)["marketing"]  # one file, every row
    code, out, err = run_cli(
        "quarantine", "build", "--date", "2024-05-28", "--sources", env / "gen"
    )
    assert code == 0, err
    rejects = spark.read.format("delta").load(str(env / "lake" / "r"))
    rules = {r.regra for r in rejects.select("regra").distinct().collect()}
    assert {"id_cliente_nulo", "data_envio_nula", "data_envio_futura"} <= rules
    table = spark.read.format("delta").load(str(env / "lake" / "q"))
    assert table.groupBy("id_cliente", "canal").count().filter("count > 1").count() == 0
    assert {r.canal for r in table.select("canal").distinct().collect()} == {
        "CRM",
        "Marketing",
        "Recomendacao",
        "Restritos",
        "Ofertas",
        "Fraude",
    }
