"""One-file outputs and atomic replacements, on the engine under test."""

from __future__ import annotations

import csv
import threading
from datetime import date
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from esteira.connectors.files import replace_folder, swap_in, write_single_file, write_text
from esteira.connectors.staging import StagingArea


@pytest.fixture
def people(spark):
    return spark.createDataFrame(
        [("1", "Silva, Ana", Decimal("10.50"), date(2024, 5, 28)),
         ("2", "Souza", None, None)],
        "id string, nome string, valor decimal(10,2), dia date",
    )


def test_csv_keeps_order_quotes_only_what_needs_it_and_writes_nulls_empty(people, tmp_path):
    out = tmp_path / "sub" / "pessoas.csv"
    write_single_file(people.orderBy("id"), out)
    assert out.read_text(encoding="utf-8").splitlines() == [
        "id,nome,valor,dia",
        '1,"Silva, Ana",10.50,2024-05-28',
        "2,Souza,,",
    ]
    assert [p.name for p in out.parent.iterdir()] == ["pessoas.csv"]  # no temporary left


def test_csv_with_another_delimiter_and_an_empty_frame(people, tmp_path):
    out = tmp_path / "p.csv"
    write_single_file(people.orderBy("id"), out, delimiter=";")
    with out.open(encoding="utf-8", newline="") as fh:
        assert list(csv.reader(fh, delimiter=";"))[1] == ["1", "Silva, Ana", "10.50", "2024-05-28"]
    empty = tmp_path / "vazio.csv"
    write_single_file(people.limit(0), empty, delimiter=";")
    assert empty.read_text(encoding="utf-8") == "id;nome;valor;dia\n"


def test_parquet_is_one_file_with_the_frames_types(people, tmp_path):
    out = tmp_path / "p.parquet"
    write_single_file(people, out)
    table = pq.read_table(out)
    assert table.num_rows == 2 and table.column_names == ["id", "nome", "valor", "dia"]


def test_replace_folder_and_write_text_swap_in_whole(people, spark, tmp_path):
    out = tmp_path / "folder"
    replace_folder(people, out)
    replace_folder(people.limit(1), out)
    assert spark.read.parquet(str(out)).count() == 1
    write_text(tmp_path / "s.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "s.json"]


def test_staging_area_reads_back_the_copy_and_leaves_nothing(people, spark, tmp_path):
    root = tmp_path / "staging"
    with StagingArea(spark, root) as stage:
        copy = stage("people", people.filter("id = '1'"))
        assert stage.folder.parent == root and (stage.folder / "people").is_dir()
        empty = stage("none", people.limit(0))
        assert copy.count() == 1 and empty.count() == 0
        assert empty.schema == people.schema
    assert not root.exists()


def test_an_explicit_format_wins_over_the_suffix(people, tmp_path):
    out = tmp_path / "averages.parquet"
    write_single_file(people.orderBy("id"), out, fmt="csv")
    assert out.read_text(encoding="utf-8").startswith("id,nome,valor,dia\n")


def test_swap_in_replaces_a_file_in_one_step_and_leaves_nothing_behind(tmp_path):
    path, tmp = tmp_path / "movimento_flat.csv", tmp_path / ".movimento_flat.csv.new"
    path.write_bytes(b"velho\n" * 1000)
    # an old version a killed run left on its way out goes with the next swap
    (tmp_path / ".movimento_flat.csv.old-0badcafe").write_bytes(b"antigo\n")
    tmp.write_bytes(b"novo\n")
    with path.open("rb") as reader:  # a reader that opened the old file keeps it whole
        swap_in(tmp, path)
        assert reader.read() == b"velho\n" * 1000
    assert path.read_bytes() == b"novo\n"
    for thread in threading.enumerate():  # the old file's unlink, when it ran in one
        if thread.name == "esteira-unlink":
            thread.join()
    assert [p.name for p in tmp_path.iterdir()] == ["movimento_flat.csv"]

    tmp.write_bytes(b"primeiro\n")  # no file there yet: a plain rename
    swap_in(tmp, tmp_path / "outro.csv")
    assert (tmp_path / "outro.csv").read_bytes() == b"primeiro\n" and not tmp.exists()
