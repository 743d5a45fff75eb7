"""SQL text the PostgreSQL target builds its reads from: id lists as literals, load
windows, and the ids whose dimension rows may change (pg_target.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any


def ids_literal(ids: list[Any]) -> str:
    """A bigint[] literal of the ids (NULLs left out)."""
    return "'{" + ",".join(str(int(i)) for i in ids if i is not None) + "}'::bigint[]"


def between(column: str, after: datetime | None, upto: datetime | None) -> str:
    parts = [f"{column} > '{after.isoformat()}'::timestamptz"] if after else []
    if upto is not None:
        parts.append(f"{column} <= '{upto.isoformat()}'::timestamptz")
    return " AND ".join(parts) or "true"


def idade_may_differ(load_date: date) -> str:
    """A trusted_associado filter: the kept idade is not the years from data_nascimento
    to `load_date` by PostgreSQL's calendar, or a birthday (its idade-th or next one)
    lies within three days of `load_date` (where Spark's months_between may count
    otherwise: the ends of months, 29 February). Date arithmetic only: 35 ms for
    100,000 associados, where age() and to_char took 110 ms."""
    early = (load_date - timedelta(days=3)).isoformat()
    late = (load_date + timedelta(days=3)).isoformat()
    return (f"idade IS NULL OR data_nascimento IS NULL "
            f"OR data_nascimento + make_interval(years => idade) > '{early}'::date "
            f"OR data_nascimento + make_interval(years => idade + 1) <= '{late}'::date")


# the dimension columns transforms.fact_rows takes (what the facts step reads of them)
FACT_KEYS = {
    "dim_cartao": "sk_cartao, id_cartao, id_conta, id_associado",
    "dim_conta": "sk_conta, id_conta",
    "dim_associado": "sk_associado, id_associado, valid_from, valid_to",
}
NARROW_LIMIT = 50_000  # ids past which a dimension's inputs are read whole
IDS_LIMIT = 1_000_000  # other movements' ids past which they are read by subquery
# Associados whose dim_associado versions may change this run (per associado, a superset
# of those scd2_changes changes): an event not already in the versions (no closed
# version starting at it, no version holding it with the same tracked values), the
# latest event's type 1 values differing from a version's, a current version whose
# associado has no event (deleted), an associado with events but no current version.
SCD2_CANDIDATES = (
    "SELECT e.id FROM {t} e WHERE NOT EXISTS (SELECT 1 FROM {d} v WHERE "
    "v.id_associado = e.id AND ((v.valid_from = e.atualizado_em AND NOT v.atual) OR "
    "(v.valid_from <= e.atualizado_em AND e.atualizado_em < v.valid_to AND "
    "ROW(v.idade, v.estado_civil, v.escolaridade) IS NOT DISTINCT FROM "
    "ROW(e.idade, e.estado_civil, e.escolaridade)))) "
    "UNION SELECT e.id FROM (SELECT DISTINCT ON (id) id, nome, sobrenome, email FROM {t} "
    "ORDER BY id, atualizado_em DESC) e JOIN {d} v ON v.id_associado = e.id "
    "WHERE ROW(v.nome, v.sobrenome, v.email) IS DISTINCT FROM ROW(e.nome, e.sobrenome, e.email) "
    "UNION SELECT v.id_associado FROM {d} v WHERE v.atual AND v.sk_associado <> {unknown} "
    "AND NOT EXISTS (SELECT 1 FROM {t} e WHERE e.id = v.id_associado) "
    "UNION SELECT e.id FROM {t} e WHERE NOT EXISTS (SELECT 1 FROM {d} v "
    "WHERE v.id_associado = e.id AND v.atual)"
)
