"""The engine's flat lines (flat_lines.py) are byte for byte PostgreSQL's CSV render of
the same warehouse (flat_render.py), quoting included; and a first load on Sail writes
its whole file from them, the same bytes as PostgreSQL renders after it."""

from __future__ import annotations

import io
import logging

import pytest

from esteira.connectors import postgres as pg
from esteira.warehouse import flat_lines, flat_render

from .conftest import Warehouse, ts
from .test_facts import seed_source

TZ = "America/Sao_Paulo"


def _tricky(wh: Warehouse) -> None:
    """Text PostgreSQL's CSV quotes (a quote, both delimiters, line breaks, an empty
    string), written into the warehouse by hand (the cleaning removes most of it)."""
    with pg.connect(wh.dsn) as conn, conn.transaction():
        for statement in (
            "UPDATE {t}.fato_movimentacao_cartao SET des_transacao = "
            "'Loja \"Boa\", Centro; SP' WHERE id_movimento = 1000",
            "UPDATE {t}.fato_movimentacao_cartao SET des_transacao = 'a' || chr(13) || chr(10) "
            "|| 'b' WHERE id_movimento = 1001",
            "UPDATE {t}.dim_cartao SET nom_impresso = '' WHERE sk_cartao <> -1",
            "UPDATE {t}.dim_associado SET nome = 'Ana; \"A\"', sobrenome = NULL "
            "WHERE id_associado = 1",
        ):
            conn.execute(statement.replace("{t}", wh.dw))


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_engine_lines_equal_postgresqls_render(wh: Warehouse, delimiter: str) -> None:
    seed_source(wh)
    wh.run(now=ts("2024-03-01T12:00+00:00"))
    _tricky(wh)

    def table(name: str):
        return pg.read_table(wh.spark, wh.dsn, query=f"SELECT * FROM {wh.dw}.{name}")

    made = flat_lines.flat_lines(table("fato_movimentacao_cartao"), table("dim_associado"),
                                 table("dim_cartao"), table("dim_conta"), TZ, delimiter)
    engine = "".join(r["line"] for r in made.orderBy("_ts", "_id").collect()).encode()
    rendered = io.BytesIO()
    with pg.connect(wh.dsn) as conn:
        flat_render.Render(wh.dw, delimiter, TZ).rows(conn, None, rendered)
    assert engine == rendered.getvalue()
    assert engine.count(b'"Loja ""Boa"", Centro; SP"') == 1  # quoted, quotes doubled
    assert engine.count(b'""') >= 3  # the empty nom_impresso: quoted, not a NULL


def test_a_first_load_writes_the_whole_file_postgresql_would(wh: Warehouse, engine, caplog):
    seed_source(wh)
    with caplog.at_level(logging.INFO, logger="esteira.warehouse.flat_file"):
        wh.run(now=ts("2024-03-01T12:00+00:00"))
    from_engine = [r for r in caplog.records if "from the engine's lines" in r.getMessage()]
    assert len(from_engine) == (1 if engine == "sail" else 0)  # the JVM's: PostgreSQL's
    path = wh.settings.warehouse.flat_file
    first = path.read_bytes()
    index = path.with_name(f".{path.name}.index.json")
    assert index.exists()
    index.unlink()  # no index: the next extract renders every day, by PostgreSQL
    wh.run("extract", now=ts("2024-03-01T13:00+00:00"))
    assert path.read_bytes() == first
    assert first.count(b"\n") == 4  # the header and the three movements
