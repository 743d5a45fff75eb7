"""Bad input stops `esteira warehouse run` with one line naming the table and column
(never a value), exit 2, and nothing written to the warehouse."""

from __future__ import annotations

import pytest

from .conftest import Warehouse
from .test_facts import seed_source

TABLES_WITH_ROWS = (
    "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
    "AND table_name NOT LIKE 'dim_%%'")


@pytest.mark.parametrize(
    ("breakage", "fragments"),
    [
        ("DROP TABLE {s}.cartao", ["cartao", "does not exist"]),
        ("ALTER TABLE {s}.movimento DROP COLUMN vlr_transacao",
         ["movimento", "column vlr_transacao is missing"]),
        ("ALTER TABLE {s}.associado ALTER data_nascimento TYPE text; "
         "UPDATE {s}.associado SET data_nascimento = 'dez de maio'",
         ["associado", "column data_nascimento", "cannot be cast to date"]),
        ("ALTER TABLE {s}.conta ALTER data_criacao TYPE boolean USING true",
         ["conta", "column data_criacao is boolean"]),
    ],
    ids=["table-missing", "column-missing", "uncastable-text", "wrong-type"],
)
def test_a_broken_source_names_table_and_column_and_writes_nothing(
    wh: Warehouse, run_cli, breakage: str, fragments: list[str]
) -> None:
    seed_source(wh)
    wh.source_sql(breakage)
    code, out, err = run_cli("warehouse", "run")
    assert code == 2, err[-1500:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-1500:]
    assert "step raw failed" in errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "dez de maio" not in err + out
    assert wh.dw_rows(TABLES_WITH_ROWS, (wh.dw,)) == [(0,)]  # not even a table made


def test_an_unreachable_source_is_one_line(wh: Warehouse, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("ESTEIRA_POSTGRES__HOST", "127.0.0.1")
    monkeypatch.setenv("ESTEIRA_POSTGRES__PORT", "1")
    monkeypatch.setenv("ESTEIRA_POSTGRES__PASSWORD", "not-used")
    code, _, err = run_cli("warehouse", "run")
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot connect to PostgreSQL 127.0.0.1:1" in errors[0], err
    assert "not-used" not in err


def test_a_bad_step_or_date_is_refused(run_cli) -> None:
    assert run_cli("warehouse", "run", "--step", "gold")[0] == 2
    code, _, err = run_cli("warehouse", "run", "--date", "31/12/2024")
    assert code == 2 and "--date must be a date as YYYY-MM-DD" in err


def test_a_second_run_at_once_is_refused_and_writes_nothing(wh: Warehouse, run_cli) -> None:
    """One run at a time per warehouse: while another holds it (here the test's own
    connection takes its lock), `warehouse run` stops at once with one line naming
    the schema, exit 2, nothing made; once it is free, the run loads. A reset waits
    for no run either."""
    from esteira.connectors import postgres as pg
    from esteira.warehouse.pg_target import LOCK_NAMESPACE

    seed_source(wh)
    with pg.connect(wh.dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))",
                       (LOCK_NAMESPACE, wh.dw))
        code, _, err = run_cli("warehouse", "run")
        assert code == 2, err[-1500:]
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in err, err[-1500:]
        assert "another warehouse run" in errors[0] and wh.dw in errors[0], errors[0]
        assert wh.dw_rows(TABLES_WITH_ROWS, (wh.dw,)) == [(0,)]
    code, _, err = run_cli("warehouse", "run")
    assert code == 0, err[-1500:]
    assert wh.dw_rows("SELECT count(*) FROM {t}.fato_movimentacao_cartao") == [(3,)]
    with pg.connect(wh.dsn, autocommit=True) as holder:  # nor a reset meanwhile
        holder.execute("SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))",
                       (LOCK_NAMESPACE, wh.dw))
        code, _, err = run_cli("warehouse", "reset", "--yes")
        assert code == 2 and "another warehouse run" in err, err[-1500:]
    assert wh.dw_rows("SELECT count(*) FROM {t}.fato_movimentacao_cartao") == [(3,)]
    assert run_cli("warehouse", "reset", "--yes")[0] == 0
    assert wh.dw_rows(TABLES_WITH_ROWS, (wh.dw,)) == [(0,)]
