"""pg_sql's filters against the engine's own rule, on the suite's PostgreSQL: the SQL
that narrows what a step reads must keep every row the engine would pick."""

from __future__ import annotations

from datetime import date, timedelta

from psycopg import sql

from esteira.connectors import postgres as pg
from esteira.warehouse import transforms
from esteira.warehouse.pg_sql import idade_may_differ

# ends of months, 29 February in and out of leap years, the turn of a year
LOAD_DATES = [date(2023, 2, 28), date(2023, 3, 1), date(2024, 2, 28), date(2024, 2, 29),
              date(2024, 3, 1), date(2024, 4, 30), date(2024, 5, 31), date(2024, 12, 31),
              date(2025, 1, 1), date(2025, 3, 31)]


def test_idade_filter_keeps_every_associado_whose_idade_the_engine_turns(
    spark, pg_conninfo: str, wh_schemas,
) -> None:
    """Born on every day of 1996-2000 (two leap years), idade kept as of a day, a week
    and a year before each load date: every associado idade_turned picks passes the
    filter, and the filter takes few of the others (a day before: under 2%)."""
    schema = wh_schemas[1]
    births = [date(1996, 1, 1) + timedelta(days=d) for d in range(366 * 5)]
    people = spark.createDataFrame([(i, b) for i, b in enumerate(births)],
                                   "id long, data_nascimento date")
    table = sql.Identifier(schema, "ages")
    with pg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id bigint, data_nascimento date, "
                             "idade integer)").format(table))
        for load in LOAD_DATES:
            for before in (1, 7, 365):
                kept = people.withColumn("idade", transforms.idade(load - timedelta(before)))
                rows = [tuple(r) for r in kept.collect()]
                conn.execute(sql.SQL("TRUNCATE {}").format(table))
                with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(table)) as copy:
                    for row in rows:
                        copy.write_row(row)
                turned = {r["id"] for r in transforms.idade_turned(kept, load).collect()}
                chosen = {r[0] for r in conn.execute(sql.SQL("SELECT id FROM {} WHERE {}").format(
                    table, sql.SQL(idade_may_differ(load))))}
                assert turned, (load, before)  # someone has a birthday in every window
                assert turned <= chosen, (load, before, sorted(turned - chosen)[:5])
                if before == 1:
                    assert len(chosen) < len(births) * 0.03, (load, len(chosen))
