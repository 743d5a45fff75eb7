"""Writers of real source files (xlsx, `;` csv, parquet, nested json, Delta) for the tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter
from pyspark.sql import SparkSession

from esteira.settings import Settings

LOAD = date(2024, 5, 28)

# The seed's final table (load date 2024-05-28), one client per channel.
SEED = {
    "crm": [
        {
            "id_cliente": 1234567890,
            "email": "cliente@exemplo.com",
            "telefone": "999999999",
            "assunto": "Campanha",
            "data_envio": date(2024, 5, 8),
            "data_base": LOAD,
        },
    ],
    "marketing": [
        {
            "id_cliente": "2345678901",
            "email": "marketing@exemplo.com",
            "telefone": "988888888",
            "subject": "Email boas vindas",
            "data_envio": "2024-05-24",
        },
    ],
    "recomendacao": [
        {
            "id_cliente": "3456789012",
            "email": "recomendacao@exemplo.com",
            "telefone": "977777777",
            "assunto": "Novo Produto",
            "data_envio": date(2024, 5, 18),
        },
    ],
    "restritos": [
        {
            "id_cliente": "4888888800",
            "contatos": {
                "email": "restritos@exemplo.com",
                "numero_telefone": "944444443",
                "data_solicitacao": "2024-03-01",
            },
            "motivos": {"descricao": "Reclamação"},
        },
    ],
    "ofertas": [
        {
            "id_cliente": "1001001001",
            "email": "ofertas@exemplo.com",
            "telefone": "955555557",
            "assunto": "Promoção",
            "data_envio": date(2024, 5, 26),
        },
    ],
    "fraude": [
        {
            "id_cliente": "4567890123",
            "email": "fraude@exemplo.com",
            "telefone": "966666666",
            "dt_inclus": date(2024, 4, 1),
            "data_exclus": None,
        },
    ],
}

PII_VALUES = ("cliente@exemplo.com", "999999999", "marketing@exemplo.com", "988888888")

DELTA_SCHEMAS = {
    "ofertas": "id_cliente string, email string, telefone string, assunto string, data_envio date",
    "fraude": "id_cliente string, email string, telefone string, dt_inclus date, data_exclus date",
}


def write_xlsx(
    path: Path,
    rows: list[dict[str, Any]],
    sheet: str = "Planilha1",
    columns: list[str] | None = None,
) -> Path:
    """An xlsx like the CRM team's: numeric ids, real Excel dates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = columns or list(rows[0])
    book = xlsxwriter.Workbook(str(path))
    ws = book.add_worksheet(sheet)
    fmt = book.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, columns)
    for r, row in enumerate(rows, start=1):
        for c, name in enumerate(columns):
            value = row.get(name)
            if isinstance(value, date | datetime):
                ws.write_datetime(r, c, datetime(value.year, value.month, value.day), fmt)
            elif value is not None:
                ws.write(r, c, value)
    book.close()
    return path


def write_csv(
    path: Path, rows: list[dict[str, Any]], sep: str = ";", columns: list[str] | None = None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = columns or list(rows[0])
    lines = [sep.join(columns)]
    lines += [sep.join("" if r.get(c) is None else str(r[c]) for c in columns) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_parquet(folder: Path, rows: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-0.parquet")
    return folder


def write_json(folder: Path, rows: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(json.dumps(r, ensure_ascii=False, default=str) for r in rows)
    (folder / "restritos.json").write_text(text + "\n", encoding="utf-8")
    return folder


def write_delta_rows(
    spark: SparkSession, folder: Path, rows: list[dict[str, Any]], schema: str
) -> Path:
    names = [c.split()[0] for c in schema.split(",")]
    data = [tuple(r.get(n) for n in names) for r in rows]
    spark.createDataFrame(data, schema).write.format("delta").mode("overwrite").save(str(folder))
    return folder


SourceWriter = Callable[..., Path]


@pytest.fixture
def write_sources(spark: SparkSession) -> SourceWriter:
    """Writes the six sources in their real formats under `root` (defaults: the seed rows)."""

    def write(root: Path, **rows: list[dict[str, Any]]) -> Path:
        data = {**SEED, **rows}
        write_xlsx(
            root / "crm" / "crm_data.xlsx",
            data["crm"],
            columns=["id_cliente", "email", "telefone", "assunto", "data_envio", "data_base"],
        )
        write_csv(
            root / "marketing" / "marketing_data.csv",
            data["marketing"],
            columns=["id_cliente", "email", "telefone", "subject", "data_envio"],
        )
        write_parquet(root / "recomendacao", data["recomendacao"])
        write_json(root / "restritos", data["restritos"])
        write_delta_rows(spark, root / "ofertas", data["ofertas"], DELTA_SCHEMAS["ofertas"])
        write_delta_rows(spark, root / "fraude", data["fraude"], DELTA_SCHEMAS["fraude"])
        return root

    return write


@pytest.fixture
def qsettings(settings: Settings, tmp_path: Path) -> Settings:
    """Settings whose quarantine tables and sources live in tmp_path."""
    quarantine = settings.quarantine.model_copy(
        update={
            "sources_dir": tmp_path / "fontes",
            "table": tmp_path / "lake" / "quarentena_global",
            "rejects": tmp_path / "lake" / "quarentena_rejeitados",
            "staging": tmp_path / "staging",
            "downloads": tmp_path / "downloads",
        }
    )
    return settings.model_copy(update={"quarantine": quarantine, "home": tmp_path / "home"})
