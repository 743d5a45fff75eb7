"""The source's incremental read: which movements count as changed since the mark,
whatever the source column's type and the reading session's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from esteira.connectors import postgres as pg
from esteira.warehouse import source

ZONE = "America/Sao_Paulo"  # UTC-3, no daylight saving since 2019
MARK = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo


@pytest.mark.parametrize("column_type", ["timestamp", "timestamptz", "text"])
@pytest.mark.parametrize("session_zone", ["UTC", "Asia/Tokyo"])
def test_changed_since_reads_the_column_in_the_warehouse_zone(
        pg_conninfo: str, pg_schema: str, column_type: str, session_zone: str) -> None:
    # local wall times in São Paulo: 08:59 and 09:00 are not after the mark, 09:01 and
    # 11:30 are (read as UTC, 11:30 would look earlier than the mark's 12:00)
    local = {1: "2024-07-01 08:59:00", 2: "2024-07-01 09:00:00", 3: "2024-07-01 09:01:00",
             4: "2024-07-01 11:30:00", 5: "2024-06-30 23:00:00"}
    with pg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {pg_schema}.movimento (id bigint PRIMARY KEY, "
                     "vlr_transacao numeric(10,2), des_transacao text, data_movimento "
                     f"timestamp, id_cartao bigint, atualizado_em {column_type})")
        conn.execute(f"CREATE INDEX ON {pg_schema}.movimento (atualizado_em)")
        for i, text in local.items():
            value = f"{text}-03" if column_type == "timestamptz" else text
            conn.execute(f"INSERT INTO {pg_schema}.movimento VALUES "
                         "(%s, 1, 'x', '2024-07-01', 1, %s)", (i, value))
        declared = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'movimento'", (pg_schema,)).fetchall())
        query = source.source_query(pg_schema, "movimento", declared, ZONE, MARK)
        conn.execute(f"SET TimeZone = '{session_zone}'")
        ids = sorted(r[0] for r in conn.execute(query))
        assert ids == [3, 4]
        if column_type != "text":  # the index on the column can answer it
            conn.execute("SET enable_seqscan = off")
            plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {query}"))
            assert "movimento_atualizado_em_idx" in plan
