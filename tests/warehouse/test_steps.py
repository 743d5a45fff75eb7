"""Steps run alone, then the whole chain: a step that takes the movements the previous
step of the same run just committed (instead of reading them back) must still get
every movement loaded before and not yet carried on, on both targets and engines (Delta
on the JVM: test_facts, `jvm_delta`)."""

from __future__ import annotations

from .conftest import Warehouse, ts
from .test_facts import seed_source


def _ids(wh: Warehouse, table: str, column: str = "id") -> list[int]:
    return [r[0] for r in wh.dw_rows(f"SELECT {column} FROM {{t}}.{table} ORDER BY {column}")]


def _new_movement(wh: Warehouse, id_: int, day: str) -> None:
    wh.source_sql(f"INSERT INTO {{s}}.movimento VALUES ({id_}, 1.00, 'Banca', "
                  f"'{day} 07:00:00', 100, '{day} 07:01-03')")


def test_a_chain_after_steps_run_alone_carries_every_pending_movement(
        wh: Warehouse, target: str) -> None:
    seed_source(wh)  # movements 1000-1002
    wh.run("raw", now=ts("2024-03-01T12:00+00:00"))
    _new_movement(wh, 1003, "2024-02-20")
    wh.run("raw", now=ts("2024-03-02T12:00+00:00"))
    assert _ids(wh, "raw_movimento") == [1000, 1001, 1002, 1003]
    # raw's earlier loads were never carried on: trusted and facts take all of them, not
    # only what this run's raw step loads
    _new_movement(wh, 1004, "2024-02-21")
    wh.run(now=ts("2024-03-03T12:00+00:00"))
    every = [1000, 1001, 1002, 1003, 1004]
    assert _ids(wh, "trusted_movimento") == every
    assert _ids(wh, "fato_movimentacao_cartao", "id_movimento") == every

    # trusted ran alone (the facts step has not seen 1005), then the whole chain
    _new_movement(wh, 1005, "2024-02-22")
    wh.run("raw", now=ts("2024-03-04T12:00+00:00"))
    wh.run("trusted", now=ts("2024-03-04T12:00+00:00"))
    _new_movement(wh, 1006, "2024-02-23")
    wh.run(now=ts("2024-03-05T12:00+00:00"))
    assert _ids(wh, "fato_movimentacao_cartao", "id_movimento") == [*every, 1005, 1006]


def test_a_first_chain_after_trusted_ran_alone_loads_every_fact(wh: Warehouse) -> None:
    seed_source(wh)
    wh.run("raw", now=ts("2024-03-01T12:00+00:00"))
    wh.run("trusted", now=ts("2024-03-01T12:00+00:00"))
    _new_movement(wh, 1003, "2024-02-20")
    wh.run(now=ts("2024-03-02T12:00+00:00"))  # the facts step's first load
    assert _ids(wh, "fato_movimentacao_cartao", "id_movimento") == [1000, 1001, 1002, 1003]
