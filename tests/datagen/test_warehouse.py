"""`esteira datagen warehouse`: SiCooperative's source, realistic and messy, reproducible,
and `--mutate`'s one day of changes."""

from __future__ import annotations

from esteira.connectors import postgres as pg
from esteira.datagen.warehouse import ESCOLARIDADE, ESTADO_CIVIL, FIRST, generate, mutate


def _one(dsn: str, query: str):
    with pg.connect(dsn) as conn:
        return conn.execute(query).fetchone()


def test_generate_is_realistic_messy_and_reproducible(pg_conninfo: str, pg_schema: str) -> None:
    s = pg_schema
    generate(pg_conninfo, s, associados=400, movimentos=3000, seed=3)
    assert _one(pg_conninfo, f"SELECT count(*) FROM {s}.associado") == (400,)
    assert _one(pg_conninfo, f"SELECT count(*) FROM {s}.movimento") == (3000,)
    assert _one(pg_conninfo, f"SELECT count(*) FROM {s}.cartao") == (400,)
    # every card and account points at an associado, every movement at a card
    assert _one(pg_conninfo, f"SELECT count(*) FROM {s}.movimento m LEFT JOIN {s}.cartao c "
                             "ON c.id = m.id_cartao WHERE c.id IS NULL") == (0,)
    nome, email = _one(pg_conninfo, f"SELECT nome, email FROM {s}.associado WHERE id = 1")
    assert nome in FIRST and "@" in email and email == email.lower()
    # the mess real systems have: stray spaces and mixed case, but the same values
    messy = _one(pg_conninfo, f"SELECT count(*) FILTER (WHERE estado_civil <> trim(estado_civil)),"
                              f" count(*) FILTER (WHERE estado_civil = upper(estado_civil)), "
                              f"count(*) FILTER (WHERE escolaridade LIKE '  %%') "
                              f"FROM {s}.associado")
    assert all(n > 10 for n in messy), messy
    tidy = {r[0] for r in _rows(pg_conninfo, f"SELECT DISTINCT lower(trim(estado_civil)) "
                                             f"FROM {s}.associado")}
    assert tidy == {v.lower() for v in ESTADO_CIVIL}
    degrees = {r[0] for r in _rows(pg_conninfo, f"SELECT DISTINCT lower(trim(escolaridade)) "
                                                f"FROM {s}.associado")}
    assert degrees == {v.lower() for v in ESCOLARIDADE}
    before = _one(pg_conninfo, f"SELECT sum(hashtext(nome || email)), sum(vlr_transacao) "
                               f"FROM {s}.associado, (SELECT sum(vlr_transacao) vlr_transacao "
                               f"FROM {s}.movimento) m")
    generate(pg_conninfo, s, associados=400, movimentos=3000, seed=3)
    assert _one(pg_conninfo, f"SELECT sum(hashtext(nome || email)), sum(vlr_transacao) "
                             f"FROM {s}.associado, (SELECT sum(vlr_transacao) vlr_transacao "
                             f"FROM {s}.movimento) m") == before


def test_mutate_applies_one_day_of_changes(pg_conninfo: str, pg_schema: str) -> None:
    s = pg_schema
    generate(pg_conninfo, s, associados=400, movimentos=3000, seed=3)
    (last,) = _one(pg_conninfo, f"SELECT max(atualizado_em) FROM {s}.movimento")
    done = mutate(pg_conninfo, s, seed=2)
    assert done["new_associados"] == 2 and done["new_movimentos"] == 30
    assert done["changed_associados"] > 0 and done["corrected_movimentos"] > 0
    assert _one(pg_conninfo, f"SELECT count(*) FROM {s}.associado") == (402,)
    changed = _one(pg_conninfo, f"SELECT count(*) FROM {s}.associado WHERE id <= 400 "
                                f"AND atualizado_em > '{last.isoformat()}'")[0]
    assert changed == done["changed_associados"]
    newer = _one(pg_conninfo, f"SELECT count(*) FROM {s}.movimento "
                              f"WHERE atualizado_em > '{last.isoformat()}'")[0]
    assert newer == done["new_movimentos"] + done["corrected_movimentos"]


def _rows(dsn: str, query: str) -> list[tuple]:
    with pg.connect(dsn) as conn:
        return conn.execute(query).fetchall()
