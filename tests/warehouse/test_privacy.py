"""No personal data from the source reaches stdout, stderr (text and JSON logs), the run
log or the JVM's output of `esteira warehouse ...`, on success and on failure, both
engines (issue 13, item 1). The flat file carries names by design and is not checked.
"""

from __future__ import annotations

import pytest

from canaries import CPF, EMAIL, FIRST_NAME, NAME, SENTENCE, SURNAME
from privacy import Gatherer

from .conftest import Warehouse


def _seed_with_canaries(wh: Warehouse) -> None:
    wh.source_sql(
        "INSERT INTO {s}.associado VALUES "
        "(1, %(first)s, %(last)s, '1990-05-10', %(email)s, 'Casado', 'Mestrado', "
        "'2024-01-10 10:00-03'), "
        "(2, %(name)s, %(cpf)s, NULL, %(email)s, NULL, %(sentence)s, '2024-01-11 10:00-03'), "
        "(3, NULL, %(last)s, '1980-01-01', %(cpf)s, NULL, NULL, '2024-01-12 10:00-03')",
        {"first": FIRST_NAME, "last": SURNAME, "email": EMAIL, "name": NAME, "cpf": CPF,
         "sentence": SENTENCE})
    wh.source_sql("INSERT INTO {s}.conta VALUES (10, 'Corrente', '2023-05-01 10:00:00', 1)")
    wh.source_sql("INSERT INTO {s}.cartao VALUES (100, '5555444433332222', %s, "
                  "'2023-05-02 11:00:00', 10, 1), (101, %s, %s, '2023-05-02 11:00:00', 10, 1)",
                  (NAME.upper(), CPF, NAME))
    wh.source_sql("INSERT INTO {s}.movimento VALUES (1000, 10.00, %s, '2024-02-10 14:30:00', "
                  "100, '2024-02-10 14:31-03'), (1001, NULL, %s, '2024-02-10 15:30:00', 100, "
                  "'2024-02-10 15:31-03')", (SENTENCE, NAME))


def test_warehouse_commands_leak_no_personal_data(
    wh: Warehouse, engine: str, capfd: pytest.CaptureFixture[str]
) -> None:
    _seed_with_canaries(wh)
    gather = Gatherer(engine, capfd)
    runs = gather.both_formats("warehouse", "run")
    for out in runs:
        assert out.code == 0, out.stderr[-2000:]
        out.assert_clean()
    assert "rejected" in runs[0].stdout  # the broken rows were seen (and set aside)
    record = runs[0].runlog[-1]  # the second run reads no movement twice
    assert record["rejected"]["trusted.associado"] == 2
    assert record["rejected"]["trusted.movimento"] == 1
    assert record["rejected"]["trusted.cartao"] == 1
    for args in (("warehouse", "status"), ("warehouse", "history", "--associado", "1")):
        shown = gather.run(*args)
        assert shown.code == 0, shown.stderr[-2000:]
        shown.assert_clean()
    # the rejects table holds the id and the rule, never the row's values
    rejects = wh.dw_rows("SELECT tabela, id, regra FROM {t}.trusted_rejeitos ORDER BY 1, 2")
    assert ("associado", "2", "data_nascimento is missing or after the load date") in rejects

    # failure: a column whose values cannot be cast (they hold personal data)
    wh.source_sql("ALTER TABLE {s}.associado ALTER data_nascimento TYPE text")
    wh.source_sql("UPDATE {s}.associado SET data_nascimento = %s WHERE id = 1", (NAME,))
    for out in gather.both_formats("warehouse", "run"):
        out.expect_error(2, "associado", "data_nascimento")
        out.assert_clean()
