"""dim_associado (SCD type 2) across runs, on both targets and engines (Delta on the JVM:
test_facts, `jvm_delta`).

Three loads with changes between them, then a rerun with none. Every expected version is
written out by hand below (times are the source's, 09:00-03 = 12:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime

from .conftest import Warehouse, ts

END = datetime(9999, 12, 31, tzinfo=UTC)
INSERT = ("INSERT INTO {s}.associado VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")
FIRST = [
    (1, "ana ", "SOUZA", "1990-05-10", "ana@x.com", "Solteiro ", "ENSINO  MÉDIO",
     "2024-01-10 10:00-03"),
    (2, "Bruno", "Lima", "1985-02-20", "bruno@x.com", "casado", "Ensino Médio",
     "2024-01-11 10:00-03"),
    (2, "Bruno", "Lima", "1985-02-20", "bruno@x.com", "casado", "Ensino Médio",
     "2024-01-11 10:00-03"),  # the same row twice: deduplicated, and reported
    (3, "Carla", "Dias", "2000-12-01", "carla@x.com", "Solteiro", "Ensino Superior",
     "2024-01-12 10:00-03"),
    (4, "Davi", "Rocha", "1970-07-07", None, "Viúvo", "Pós-graduação", "2024-01-13 10:00-03"),
    (5, "Eva", "Nunes", "1995-08-03", "eva@x.com", "Divorciado", "Mestrado",
     "2024-01-14 10:00-03"),
    (6, "Fabio", "Reis", "1980-06-06", "fabio@x.com", "Solteiro", None, "2024-01-15 10:00-03"),
]


def _versions(wh: Warehouse) -> list[tuple]:
    rows = wh.dw_rows(
        "SELECT id_associado, nome, email, idade, estado_civil, escolaridade, valid_from, "
        "valid_to, atual FROM {t}.dim_associado WHERE sk_associado <> -1 "
        "ORDER BY id_associado, valid_from")
    return [(*r[:6], _utc(r[6]), _utc(r[7]), r[8]) for r in rows]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_scd2_across_three_runs_then_a_rerun_that_changes_nothing(wh: Warehouse, target):
    for row in FIRST:
        wh.source_sql(INSERT, row)
    first = wh.run("raw", "trusted", "dims", now=ts("2024-03-01T12:00+00:00"))
    trusted = next(s for s in first.steps if s.step == "trusted")
    assert "1 duplicate row(s) of associado removed" in trusted.warnings

    # run 2: Ana marries, Carla's e-mail changes (type 1: no new version)
    wh.source_sql("UPDATE {s}.associado SET estado_civil = 'CASADO ', "
                  "atualizado_em = '2024-03-05 09:00-03' WHERE id = 1")
    wh.source_sql("UPDATE {s}.associado SET email = 'carla.dias@y.com', "
                  "atualizado_em = '2024-03-06 09:00-03' WHERE id = 3")
    wh.run("raw", "trusted", "dims", now=ts("2024-03-10T12:00+00:00"))

    # run 3: Bruno's new degree; Ana's new e-mail and a change of hers that arrives late
    # (February, inside her first version); Eva deleted; Fabio's escolaridade null -> value
    wh.source_sql("UPDATE {s}.associado SET escolaridade = 'ensino superior', "
                  "atualizado_em = '2024-03-15 09:00-03' WHERE id = 2")
    wh.source_sql("UPDATE {s}.associado SET email = 'ana.souza@x.com', "
                  "atualizado_em = '2024-03-18 09:00-03' WHERE id = 1")
    wh.source_sql(INSERT, (1, "Ana", "Souza", "1990-05-10", "ana@x.com", "União Estável",
                           "Ensino Médio", "2024-02-01 09:00-03"))
    wh.source_sql("DELETE FROM {s}.associado WHERE id = 5")
    wh.source_sql("UPDATE {s}.associado SET escolaridade = 'Ensino Fundamental', "
                  "atualizado_em = '2024-03-16 09:00-03' WHERE id = 6")
    wh.run("raw", "trusted", "dims", now=ts("2024-03-20T12:00+00:00"))

    ana, carla = "ana.souza@x.com", "carla.dias@y.com"
    expected = [
        (1, "Ana", ana, 33, "Solteiro", "Ensino Médio", ts("2024-01-10T13:00+00:00"),
         ts("2024-02-01T12:00+00:00"), False),
        (1, "Ana", ana, 33, "União Estável", "Ensino Médio", ts("2024-02-01T12:00+00:00"),
         ts("2024-03-05T12:00+00:00"), False),
        (1, "Ana", ana, 33, "Casado", "Ensino Médio", ts("2024-03-05T12:00+00:00"), END, True),
        (2, "Bruno", "bruno@x.com", 39, "Casado", "Ensino Médio",
         ts("2024-01-11T13:00+00:00"), ts("2024-03-15T12:00+00:00"), False),
        (2, "Bruno", "bruno@x.com", 39, "Casado", "Ensino Superior",
         ts("2024-03-15T12:00+00:00"), END, True),
        (3, "Carla", carla, 23, "Solteiro", "Ensino Superior", ts("2024-01-12T13:00+00:00"),
         END, True),
        (4, "Davi", None, 53, "Viúvo", "Pós-graduação", ts("2024-01-13T13:00+00:00"), END,
         True),
        (5, "Eva", "eva@x.com", 28, "Divorciado", "Mestrado", ts("2024-01-14T13:00+00:00"),
         ts("2024-03-20T12:00+00:00"), False),
        (6, "Fabio", "fabio@x.com", 43, "Solteiro", None, ts("2024-01-15T13:00+00:00"),
         ts("2024-03-16T12:00+00:00"), False),
        (6, "Fabio", "fabio@x.com", 43, "Solteiro", "Ensino Fundamental",
         ts("2024-03-16T12:00+00:00"), END, True),
    ]
    assert _versions(wh) == expected

    rerun = wh.run("raw", "trusted", "dims", now=ts("2024-03-20T13:00+00:00"))
    dims = next(s for s in rerun.steps if s.step == "dims")
    assert dims.wrote == {"dim_associado": 0, "dim_conta": 0, "dim_cartao": 0}
    assert _versions(wh) == expected
    unknown = wh.dw_rows("SELECT nome, atual FROM {t}.dim_associado WHERE sk_associado = -1")
    assert unknown == [("Desconhecido", True)]
    if target == "postgres":  # exactly one current version per associado, by the database
        index = wh.dw_rows("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND "
                           "indexname = 'dim_associado_um_atual'", (wh.dw,))
        assert "UNIQUE" in index[0][0] and "WHERE atual" in index[0][0]
