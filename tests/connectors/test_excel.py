"""xlsx through calamine into Parquet: types kept as text, clear sheet errors."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow.parquet as pq
import pytest
import xlsxwriter

from esteira.connectors import excel
from esteira.errors import InputError


@pytest.fixture
def workbook(tmp_path):
    path = tmp_path / "crm.xlsx"
    book = xlsxwriter.Workbook(str(path))
    ws = book.add_worksheet("Contatos")
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    ws.write_row(0, 0, ["id_cliente", "valor", "data_envio", "quando", "assunto"])
    ws.write_row(1, 0, [1234567890, 10.5])
    ws.write_datetime(1, 2, datetime(2024, 5, 8), day)
    ws.write_datetime(1, 3, datetime(2024, 5, 8, 10, 30), day)
    ws.write(1, 4, "  Campanha ")
    ws.write(2, 4, "só assunto")
    book.add_worksheet("Outra")
    book.close()
    return path


def test_cells_become_text_ids_without_decimals_dates_iso(workbook, tmp_path):
    out = excel.xlsx_to_parquet(workbook, tmp_path / "o.parquet", sheet="Contatos")
    rows = pq.read_table(out).to_pylist()
    assert rows == [
        {
            "id_cliente": "1234567890",
            "valor": "10.5",
            "data_envio": "2024-05-08",
            "quando": "2024-05-08 10:30:00",
            "assunto": "Campanha",
        },
        {
            "id_cliente": None,
            "valor": None,
            "data_envio": None,
            "quando": None,
            "assunto": "só assunto",
        },
    ]
    assert date.fromisoformat(rows[0]["data_envio"]) == date(2024, 5, 8)


def test_first_sheet_by_default(workbook, tmp_path):
    out = excel.xlsx_to_parquet(workbook, tmp_path / "o.parquet")
    assert pq.read_table(out).num_rows == 2


def test_missing_sheet_lists_the_sheets(workbook, tmp_path):
    with pytest.raises(InputError) as err:
        excel.xlsx_to_parquet(workbook, tmp_path / "o.parquet", sheet="Plan1", name="fonte crm")
    assert str(err.value) == (
        "fonte crm: sheet 'Plan1' does not exist in crm.xlsx; sheets: Contatos, Outra"
    )


def test_not_a_workbook(tmp_path):
    bad = tmp_path / "x.xlsx"
    bad.write_text("id;nome\n")
    with pytest.raises(InputError, match="not a readable xlsx file"):
        excel.xlsx_to_parquet(bad, tmp_path / "o.parquet", name="fonte crm")
    with pytest.raises(InputError, match="does not exist"):
        excel.xlsx_to_parquet(tmp_path / "nada.xlsx", tmp_path / "o.parquet")
