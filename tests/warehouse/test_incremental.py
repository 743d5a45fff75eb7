"""The PostgreSQL warehouse's incremental paths, both engines: a change that arrives late
moves an old movement to the associado's new version (the facts step recomputes only
the movements of associados whose versions moved), a deletion closes the current
version while the other associados are left alone, and movimento_flat.csv renders
again only the days whose rows changed (and nothing on a rerun), yet always equals
the whole warehouse. Every expected row is written out by hand.
"""

from __future__ import annotations

import csv

from esteira.connectors import postgres as pg

from .conftest import Warehouse, ts
from .test_facts import HEADER, seed_source

ANA_ROW = ["Ana", "Souza", "33", "150.75", "Supermercado Dia", "2024-02-10 14:30:00",
           "5555444433332222", "ANA SOUZA", "2023-05-02 11:00:00", "Corrente",
           "2023-05-01 10:00:00"]
JOSE_ROW = ["Desconhecido", "", "", "20.00", "Farmácia", "2024-02-11 09:00:00",
            "4444333322221111", "JOSE X", "2023-06-02 11:00:00", "Investimento",
            "2023-06-01 10:00:00"]
UNKNOWN_ROW = ["Desconhecido", "", "", "5.50", "Padaria", "2024-02-12 08:00:00", "",
               "DESCONHECIDO", "", "Desconhecido", ""]


def _flat(wh: Warehouse) -> list[list[str]]:
    with wh.settings.warehouse.flat_file.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _dw_sql(wh: Warehouse, statement: str) -> None:
    with pg.connect(wh.dsn) as conn, conn.transaction():
        conn.execute(statement.replace("{t}", wh.dw))


def _step(result, name: str):
    return next(s for s in result.steps if s.step == name)


def _ana_versions(wh: Warehouse) -> list[tuple]:
    return [tuple(r) for r in wh.dw_rows(
        "SELECT sk_associado, estado_civil, atual FROM {t}.dim_associado "
        "WHERE id_associado = 1 ORDER BY valid_from")]


def test_late_change_moves_old_facts_and_the_flat_file_renders_only_changed_days(
    wh: Warehouse,
) -> None:
    seed_source(wh)
    wh.source_sql("INSERT INTO {s}.associado VALUES (2, 'Bruno', 'Lima', '1985-02-20', "
                  "'bruno@x.com', 'Solteiro', 'Mestrado', '2024-01-11 10:00-03')")
    first = wh.run(now=ts("2024-03-01T12:00+00:00"))
    assert _step(first, "extract").read == {"rendered": 3}
    jose = JOSE_ROW
    assert _flat(wh) == [HEADER, ANA_ROW, jose, UNKNOWN_ROW]
    (sk_first, _, _), = _ana_versions(wh)
    if wh.settings.engine == "sail":  # its COPY lays the facts out in the file's order
        assert wh.dw_rows("SELECT id_movimento FROM {t}.fato_movimentacao_cartao "
                          "ORDER BY ctid") == wh.dw_rows(
            "SELECT id_movimento FROM {t}.fato_movimentacao_cartao "
            "ORDER BY data_movimento, id_movimento")

    # a change of Ana's made on 1 Feb arrives late: her movement of 10 Feb now belongs
    # to the new version; Bruno is deleted at the source; nothing else changes
    wh.source_sql("UPDATE {s}.associado SET estado_civil = 'Divorciado', "
                  "atualizado_em = '2024-02-01 09:00-03' WHERE id = 1")
    wh.source_sql("DELETE FROM {s}.associado WHERE id = 2")
    second = wh.run(now=ts("2024-03-02T12:00+00:00"))
    raw, trusted = _step(second, "raw"), _step(second, "trusted")
    # small tables read whole, written as a sync: Ana's row replaced, Bruno's removed
    assert raw.read["associado"] == 1 and raw.wrote["raw_associado"] == 2
    assert raw.wrote["raw_conta"] == raw.wrote["raw_cartao"] == 0
    assert trusted.wrote["trusted_associado"] == 2 and trusted.wrote["trusted_conta"] == 0
    versions = _ana_versions(wh)
    assert [v[1:] for v in versions] == [("Casado", False), ("Divorciado", True)]
    assert versions[0][0] == sk_first
    assert _step(second, "dims").wrote == {"dim_associado": 3, "dim_conta": 0,
                                            "dim_cartao": 0, "dim_data": 0}
    assert wh.dw_rows("SELECT atual, valid_to FROM {t}.dim_associado "
                      "WHERE id_associado = 2") == [(False, ts("2024-03-02T12:00+00:00"))]
    assert wh.dw_rows("SELECT sk_associado FROM {t}.fato_movimentacao_cartao "
                      "WHERE id_movimento = 1000") == [(versions[1][0],)]
    assert _step(second, "facts").wrote == {"fato_movimentacao_cartao": 1}
    assert _step(second, "extract").read == {"rendered": 1}  # the day of movement 1000
    assert _flat(wh) == [HEADER, ANA_ROW, jose, UNKNOWN_ROW]

    # Ana's surname changes (type 1: every version); a new movement on 20 Feb
    wh.source_sql("UPDATE {s}.associado SET sobrenome = 'Souza Lima', "
                  "atualizado_em = '2024-03-03 09:00-03' WHERE id = 1")
    wh.source_sql("INSERT INTO {s}.movimento VALUES (1004, 10.00, 'Banca', "
                  "'2024-02-20 07:00:00', 101, '2024-03-03 09:00-03')")
    third = wh.run(now=ts("2024-03-04T12:00+00:00"))
    assert _step(third, "extract").read == {"rendered": 2}  # 10 Feb and 20 Feb
    assert _step(third, "extract").wrote == {"movimento_flat": 4}  # the index's + counted
    renamed = [*ANA_ROW[:1], "Souza Lima", *ANA_ROW[2:]]
    banca = [*jose[:3], "10.00", "Banca", "2024-02-20 07:00:00", *jose[6:]]
    assert _flat(wh) == [HEADER, renamed, jose, UNKNOWN_ROW, banca]

    rerun = wh.run(now=ts("2024-03-04T13:00+00:00"))
    assert _step(rerun, "extract").read == {"rendered": 0}
    assert _flat(wh) == [HEADER, renamed, jose, UNKNOWN_ROW, banca]

    # without its index (or after any doubt) the file is rendered whole, the same bytes
    flat = wh.settings.warehouse.flat_file
    before = flat.read_bytes()
    flat.with_name(f".{flat.name}.index.json").unlink()
    whole = wh.run("extract", now=ts("2024-03-04T14:00+00:00"))
    assert _step(whole, "extract").read == {"rendered": 4}
    assert flat.read_bytes() == before


def test_flat_file_copies_the_unchanged_days_around_a_changed_one_or_renders_whole(
    wh: Warehouse,
) -> None:
    """A change on the middle day: the days before it and after it are copied from the
    previous file; a line break inside a field: the whole file is rendered."""
    seed_source(wh)
    wh.run(now=ts("2024-03-01T12:00+00:00"))
    jose = JOSE_ROW
    assert _flat(wh) == [HEADER, ANA_ROW, jose, UNKNOWN_ROW]

    wh.source_sql("UPDATE {s}.movimento SET vlr_transacao = 21.00, "
                  "atualizado_em = '2024-03-05 09:00-03' WHERE id = 1001")
    corrected = wh.run(now=ts("2024-03-05T12:00+00:00"))
    assert _step(corrected, "extract").read == {"rendered": 1}
    jose = [*jose[:3], "21.00", *jose[4:]]
    assert _flat(wh) == [HEADER, ANA_ROW, jose, UNKNOWN_ROW]

    # written into the warehouse by hand (the pipeline's cleaning makes no line break)
    _dw_sql(wh, "UPDATE {t}.fato_movimentacao_cartao SET des_transacao = 'Far' || chr(10) "
            "|| 'mácia' WHERE id_movimento = 1001")
    _dw_sql(wh, "INSERT INTO {t}.flat_pendente VALUES (20240211)")
    broken = wh.run("extract", now=ts("2024-03-05T13:00+00:00"))
    assert _step(broken, "extract").read == {"rendered": 3}
    assert _flat(wh) == [HEADER, ANA_ROW, [*jose[:4], "Far\nmácia", *jose[5:]], UNKNOWN_ROW]


def test_trusted_cleans_only_changed_ids_yet_idade_turns_and_rejects_are_retried(
    wh: Warehouse,
) -> None:
    """Trusted cleans again only the small tables' ids the raw step changed, those it
    rejected (a rule may pass on a later load date) and associados whose idade turned."""
    seed_source(wh)
    # Bruno turns 39 on 2 March; Carla's birth date is after the first load's date
    wh.source_sql("INSERT INTO {s}.associado VALUES (2, 'Bruno', 'Lima', '1985-03-02', "
                  "'bruno@x.com', 'Solteiro', 'Mestrado', '2024-01-11 10:00-03'), "
                  "(3, 'Carla', 'Reis', '2024-03-02', 'carla@x.com', 'Solteiro', "
                  "'Mestrado', '2024-01-12 10:00-03')")
    wh.run(now=ts("2024-03-01T12:00+00:00"))
    ages = "SELECT id, idade FROM {t}.trusted_associado ORDER BY id"
    rejected = "SELECT tabela, id FROM {t}.trusted_rejeitos ORDER BY 1, 2"
    assert wh.dw_rows(ages) == [(1, 33), (2, 38)]
    assert wh.dw_rows(rejected) == [("associado", "3")]

    # the source changes only by a new account of Ana's
    wh.source_sql("INSERT INTO {s}.conta VALUES (12, 'Corrente', '2024-03-01 10:00:00', 1)")
    second = wh.run(now=ts("2024-03-02T12:00+00:00"))
    trusted = _step(second, "trusted")
    # Bruno (idade) and Carla (rejected before); account 12; no card, no movement
    assert trusted.read == {"associado": 2, "conta": 1, "cartao": 0, "movimento": 0}
    assert wh.dw_rows(ages) == [(1, 33), (2, 39), (3, 0)]
    assert wh.dw_rows(rejected) == []
    assert wh.dw_rows("SELECT id FROM {t}.trusted_conta ORDER BY id") == [(10,), (11,), (12,)]

    rerun = wh.run(now=ts("2024-03-02T13:00+00:00"))
    assert _step(rerun, "trusted").read == {"associado": 0, "conta": 0, "cartao": 0,
                                           "movimento": 0}
    assert wh.dw_rows(ages) == [(1, 33), (2, 39), (3, 0)]


def test_a_warehouse_older_than_the_notes_has_trusted_clean_everything_once(
    wh: Warehouse,
) -> None:
    """No trusted_pendente (a warehouse made before it): the next run cannot know what
    the raw step changed before, so trusted cleans every small table whole, once."""
    seed_source(wh)
    wh.run(now=ts("2024-03-01T12:00+00:00"))
    with pg.connect(wh.dsn) as conn:
        conn.execute(f"DROP TABLE {wh.dw}.trusted_pendente")
    again = wh.run(now=ts("2024-03-01T13:00+00:00"))
    assert _step(again, "trusted").read == {"associado": 1, "conta": 2, "cartao": 2,
                                           "movimento": 0}
    rerun = wh.run(now=ts("2024-03-01T14:00+00:00"))
    assert _step(rerun, "trusted").read == {"associado": 0, "conta": 0, "cartao": 0,
                                           "movimento": 0}


def test_dims_computes_again_only_the_ids_trusted_changed(wh: Warehouse) -> None:
    """dims_pendente: the dims step reads only the ids whose trusted rows changed since
    it last ran (none on a rerun): Ana's divorce makes a version, Bruno, unchanged,
    keeps his one. A warehouse made before the notes has dims compare every id once."""
    seed_source(wh)
    wh.source_sql("INSERT INTO {s}.associado VALUES (2, 'Bruno', 'Lima', '1985-02-20', "
                  "'bruno@x.com', 'Solteiro', 'Mestrado', '2024-01-11 10:00-03')")
    first = wh.run(now=ts("2024-03-01T12:00+00:00"))
    assert _step(first, "dims").read == {"associado": 2, "conta": 2, "cartao": 2}
    rerun = wh.run(now=ts("2024-03-01T13:00+00:00"))
    assert _step(rerun, "dims").read == {"associado": 0, "conta": 0, "cartao": 0}

    wh.source_sql("UPDATE {s}.associado SET estado_civil = 'Divorciado', "
                  "atualizado_em = '2024-03-01 10:00-03' WHERE id = 1")
    wh.source_sql("UPDATE {s}.cartao SET nom_impresso = 'ANA S SOUZA' WHERE id = 100")
    changed = wh.run(now=ts("2024-03-01T14:00+00:00"))
    assert _step(changed, "dims").read == {"associado": 1, "conta": 0, "cartao": 1}
    assert wh.dw_rows("SELECT id_associado, estado_civil, atual FROM {t}.dim_associado "
                      "WHERE id_associado > 0 ORDER BY id_associado, valid_from") == [
        (1, "Casado", False), (1, "Divorciado", True), (2, "Solteiro", True)]
    assert wh.dw_rows("SELECT nom_impresso FROM {t}.dim_cartao WHERE id_cartao = 100") == [
        ("ANA S SOUZA",)]

    # a warehouse older than the notes, whose trusted rows changed before they existed:
    # dims compares every id once (its query over both tables) and finds Bruno's
    with pg.connect(wh.dsn) as conn:
        conn.execute(f"DROP TABLE {wh.dw}.dims_pendente")
        conn.execute(f"UPDATE {wh.dw}.trusted_associado SET escolaridade = 'Doutorado' "
                     "WHERE id = 2")
    again = wh.run("dims", now=ts("2024-03-01T15:00+00:00"))
    assert _step(again, "dims").read == {"associado": 1, "conta": 0, "cartao": 0}
    assert wh.dw_rows("SELECT escolaridade, atual FROM {t}.dim_associado "
                      "WHERE id_associado = 2 ORDER BY valid_from") == [
        ("Mestrado", False), ("Doutorado", True)]
    assert _step(wh.run("dims", now=ts("2024-03-01T16:00+00:00")), "dims").read == {
        "associado": 0, "conta": 0, "cartao": 0}


def test_a_movement_older_than_trusted_s_own_is_left_out_and_the_facts_follow_trusted(
    wh: Warehouse,
) -> None:
    """trusted keeps the newer version of a movement; when a load brings one older than
    the table's, the facts step computes from what trusted holds (read back), not from
    the load as the trusted step staged it; the load's other movements still go in."""
    from decimal import Decimal

    seed_source(wh)
    wh.run(now=ts("2024-03-01T12:00+00:00"))
    # trusted's row of movement 1000 is newer than what the source is about to send
    _dw_sql(wh, "UPDATE {t}.trusted_movimento SET atualizado_em = '2024-03-05 00:00+00' "
                "WHERE id = 1000")
    wh.source_sql("UPDATE {s}.movimento SET vlr_transacao = 99.99, "
                  "atualizado_em = '2024-03-02 10:00-03' WHERE id = 1000")
    wh.source_sql("INSERT INTO {s}.movimento VALUES (1005, 7.00, 'Café', "
                  "'2024-02-21 08:00:00', 100, '2024-03-02 10:00-03')")
    second = wh.run(now=ts("2024-03-02T14:00+00:00"))
    assert _step(second, "raw").wrote["raw_movimento"] == 2
    assert _step(second, "trusted").wrote["trusted_movimento"] == 1  # 1005 only
    assert wh.dw_rows("SELECT id_movimento, vlr_transacao FROM {t}.fato_movimentacao_cartao "
                      "WHERE id_movimento IN (1000, 1005) ORDER BY 1") == [
        (1000, Decimal("150.75")), (1005, Decimal("7.00"))]
    assert [r[3] for r in _flat(wh)[1:]] == ["150.75", "20.00", "5.50", "7.00"]
