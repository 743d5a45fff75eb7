"""What each step of the PostgreSQL warehouse reads, narrowed to what can change: the
ids the previous steps noted (trusted_pendente, dims_pendente, fato_pendente), the
movements of one load, the dimension rows those movements join to (PostgresTarget's
reads; pg_sql.py holds their SQL text)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from psycopg import sql
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from esteira.warehouse.io import FactInputs
from esteira.warehouse.pg_sql import (
    FACT_KEYS,
    IDS_LIMIT,
    NARROW_LIMIT,
    SCD2_CANDIDATES,
    between,
    idade_may_differ,
    ids_literal,
)
from esteira.warehouse.schemas import CONTROL, DIMS_PENDING, FACTS_PENDING, TRUSTED_PENDING


class PostgresInputs:
    """The reads of PostgresTarget that narrow a step's inputs (it supplies `read`, the
    run's connection `_connected`, `schema` and `narrowed`)."""

    schema: str
    narrowed: dict[str, int | None]

    def read(self, table: str, where: str | None = None, columns: str = "*") -> DataFrame:
        raise NotImplementedError

    def _connected(self) -> Any:
        raise NotImplementedError

    def trusted_pending(self, entity: str) -> list[int] | None:
        """The ids of a small table whose raw rows changed since trusted last cleaned it
        (trusted_pendente, noted by the raw step), with those it rejected then (a rule
        may pass now); None when the whole table must be cleaned: never cleaned yet, the
        raw step replaced it, or more than NARROW_LIMIT ids."""
        s = sql.Identifier(self.schema).as_string(None)
        with self._connected() as conn:
            cleaned = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {s}.{CONTROL} WHERE tabela = "
                                   "%s)", (f"trusted_{entity}",)).fetchone()[0]
            noted = _noted(conn, self.schema, TRUSTED_PENDING, entity) if cleaned else None
            if noted is None:
                return None
            rejected = [r[0] for r in conn.execute(
                f"SELECT id::bigint FROM {s}.trusted_rejeitos WHERE tabela = %s "
                "AND id ~ '^-?[0-9]{1,18}$'", (entity,))]
        ids = sorted({*noted, *rejected})
        return None if len(ids) > NARROW_LIMIT else ids

    def idade_candidates(self, load_date: date) -> DataFrame:
        """trusted_associado's rows whose idade may have turned by `load_date`: a superset
        (the engine decides, transforms.idade_turned) of those whose idade by
        PostgreSQL's age() is not the kept one, or whose birthday is within three days
        of it (where Spark's months_between and age() may disagree: the ends of months,
        29 February); a few hundred of 100,000 rows read instead of all of them."""
        return self.read("trusted_associado", idade_may_differ(load_date))

    def raw_rows(self, entity: str, ids: list[int] | None) -> DataFrame:
        """raw_<entity>: whole, or the rows of `ids` and those without an id."""
        if ids is None:
            return self.read(f"raw_{entity}")
        return self.read(f"raw_{entity}", f"id IS NULL OR id = ANY({ids_literal(ids)})")

    def raw_movements(self, after: datetime | None, upto: datetime | None) -> DataFrame:
        return self.read("raw_movimento", between("ingerido_em", after, upto))

    def fact_inputs(self, after: datetime | None, upto: datetime | None,
                    window: DataFrame | None = None) -> FactInputs:
        """Trusted movements loaded in (after, upto]; those of associados whose versions
        moved (fato_pendente, filled by the dims step: from when on), which may now
        belong to another version; those whose fact still has an unknown member (the
        card or associado may have arrived); the fact rows those movements have now; and
        only the dimension rows they can join to (their cards, those cards' accounts
        and associados' versions). The load's movements are chosen by carregado_em (B-tree),
        the few others by id (a literal of every id made each read 1.4 s instead of
        0.5 s for 88,000 movements). `window`: the load's movements as the trusted step
        of this run staged and wrote them: only the others are read (55,000 movements
        read back: 0.2 s)."""
        if after is None:  # the first load: every movement, no fact to compare with yet
            return FactInputs(self.read("trusted_movimento", between("carregado_em", None, upto)),
                              self.read("fato_movimentacao_cartao"), *self._dims())
        s = sql.Identifier(self.schema).as_string(None)
        others = (f"SELECT id_movimento FROM {s}.fato_movimentacao_cartao "
                  "WHERE sk_cartao < 0 OR sk_associado < 0 OR sk_conta < 0")
        # the movements already in the facts whose associado's versions moved (the new
        # ones are in the range): by their facts, from the earliest day a version moved
        # (two days before it in UTC: any zone's day is later), through the BRIN on
        # sk_data where the facts lie in day order
        moved = (f"SELECT f.id_movimento FROM {s}.fato_movimentacao_cartao f JOIN "
                 f"{s}.dim_cartao c ON c.sk_cartao = f.sk_cartao JOIN {s}.{FACTS_PENDING} p "
                 "ON p.id_associado = c.id_associado WHERE f.data_movimento >= p.desde AND "
                 f"f.sk_data >= (SELECT CASE WHEN isfinite(min(desde)) THEN to_char(min(desde) "
                 "AT TIME ZONE 'UTC' - interval '2 days', 'YYYYMMDD')::integer ELSE 0 END "
                 f"FROM {s}.{FACTS_PENDING})")
        with self._connected() as conn:
            if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {s}.{FACTS_PENDING})").fetchone()[0]:
                others += f" UNION {moved}"
            ids = [r[0] for r in conn.execute(others)]
            by_id = f"IN ({others})" if len(ids) > IDS_LIMIT else f"= ANY({ids_literal(ids)})"
            chosen = f"({between('carregado_em', after, upto)}) OR id {by_id}"
            dims = self._dims(conn, chosen)
        # no fact has an id past the largest one: the new movements (most of a load,
        # their ids past it) are not looked up in the facts' key one by one (50,000
        # lookups: 0.25 s of PostgreSQL's time, by three processes)
        known = f"id <= (SELECT max(id_movimento) FROM {s}.fato_movimentacao_cartao)"
        if window is None:
            movements = self.read("trusted_movimento", chosen)
        else:  # the others (outside the window) read, the window taken as given
            others_only = self.read("trusted_movimento", f"id {by_id} AND NOT coalesce(("
                                    f"{between('carregado_em', after, upto)}), false)")
            # in the read's types: Sail's union of decimal(10,2) and decimal(38,10)
            # is typed as the first and made as the second (pysail 0.7.2)
            movements = window.select(*[F.col(f.name).cast(f.dataType)
                                        for f in others_only.schema]).unionByName(others_only)
        return FactInputs(movements,
                          self.read("fato_movimentacao_cartao", "id_movimento IN (SELECT id "
                                    f"FROM {s}.trusted_movimento WHERE ({chosen}) AND {known})"),
                          *dims)

    def _dims(self, conn: Any = None, chosen: str | None = None) -> tuple[DataFrame, ...]:
        """dim_cartao, dim_conta, dim_associado: whole, or (with a connection) the rows
        the trusted movements `WHERE {chosen}` join to; only the columns the facts take
        (FACT_KEYS: the names and e-mails stay in the database)."""
        tables = ("dim_cartao", "dim_conta", "dim_associado")
        if chosen is None:
            return tuple(self.read(t, None, FACT_KEYS[t]) for t in tables)
        s = sql.Identifier(self.schema).as_string(None)
        ids = conn.execute(
            "SELECT array_agg(DISTINCT c.id_cartao), array_agg(DISTINCT c.id_conta), "
            f"array_agg(DISTINCT c.id_associado) FROM {s}.dim_cartao c WHERE c.id_cartao IN "
            f"(SELECT id_cartao FROM {s}.trusted_movimento WHERE {chosen})").fetchone()
        return tuple(self.read(t, f"{key} = ANY({ids_literal(found or [])})", FACT_KEYS[t])
                     for t, key, found in zip(tables, ("id_cartao", "id_conta", "id_associado"),
                                              ids, strict=True))

    def scd2_inputs(self, unknown: int) -> tuple[DataFrame, DataFrame, int | None]:
        """dim_associado's versions and trusted_associado's events of only the associados
        whose versions may change (`SCD2_CANDIDATES`, a superset), with the largest
        surrogate key; the whole tables on a first load."""
        return self._narrowed("associado", SCD2_CANDIDATES, unknown)

    def type1_inputs(self, entity: str, attrs: list[str],
                     unknown: int) -> tuple[DataFrame, DataFrame, int | None]:
        """As scd2_inputs for dim_conta / dim_cartao: the trusted rows new to the
        dimension or with other values, and their dimension rows."""
        candidates = sql.SQL(
            "SELECT t.id FROM {t} t LEFT JOIN {d} d ON d.{key} = t.id "
            "WHERE d.{sk} IS NULL OR ROW({tv}) IS DISTINCT FROM ROW({dv})").format(
            t=sql.Identifier(self.schema, f"trusted_{entity}"),
            d=sql.Identifier(self.schema, f"dim_{entity}"),
            key=sql.Identifier(f"id_{entity}"), sk=sql.Identifier(f"sk_{entity}"),
            tv=sql.SQL(", ").join(sql.SQL("t.") + sql.Identifier(a) for a in attrs),
            dv=sql.SQL(", ").join(sql.SQL("d.") + sql.Identifier(a) for a in attrs))
        return self._narrowed(entity, candidates, unknown)

    def _narrowed(self, entity: str, candidates: sql.Composable | str,
                  unknown: int) -> tuple[DataFrame, DataFrame, int | None]:
        dim, trusted = f"dim_{entity}", f"trusted_{entity}"
        key, sk = f"id_{entity}", f"sk_{entity}"
        if isinstance(candidates, str):
            candidates = sql.SQL(candidates).format(
                t=sql.Identifier(self.schema, trusted), d=sql.Identifier(self.schema, dim),
                unknown=sql.Literal(unknown))
        with self._connected() as conn:
            known, top = conn.execute(sql.SQL("SELECT count(*), max({}) FROM {} WHERE {} <> %s")
                                      .format(sql.Identifier(sk), sql.Identifier(self.schema, dim),
                                              sql.Identifier(sk)), (unknown,)).fetchone()
            # the ids the trusted step changed since (a superset of those whose rows may
            # change: the dimension matched trusted for every other id when dims last
            # ran); when it noted the whole table, the candidates' query over both
            noted = _noted(conn, self.schema, DIMS_PENDING, entity) if known else None
            ids = noted if noted is not None else (
                [r[0] for r in conn.execute(candidates)] if known else [])
        if not known or len(ids) > NARROW_LIMIT:  # first load, or most rows may change
            self.narrowed[entity] = None
            return self.read(dim), self.read(trusted), None
        self.narrowed[entity] = len(ids)
        chosen = ids_literal(ids)
        return (self.read(dim, f"{key} = ANY({chosen})"),
                self.read(trusted, f"id = ANY({chosen})"), top or 0)

    def day_span(self, timezone: str, since: datetime | None = None) -> tuple[Any, Any]:
        """First and last local day of the trusted movements loaded after `since` (all
        without it), widened to dim_data's own span; (None, None) with neither.

        Only the movements within a day of the first and last instants are converted to
        local days (a zone's offset moves by less than a day, so no other can be
        earlier or later): 5M movements 2.7-3.7 s converted whole, 1.2 s so (two scans)."""
        t = sql.Identifier(self.schema, "trusted_movimento")
        where = sql.SQL(between("carregado_em", since, None))
        d = sql.Identifier(self.schema, "dim_data")
        with self._connected() as conn:
            lo, hi = conn.execute(sql.SQL(
                "SELECT min(data_movimento), max(data_movimento) FROM {t} WHERE {w}"
            ).format(t=t, w=where)).fetchone()
            return conn.execute(sql.SQL(
                "SELECT least(min(day), (SELECT min(data) FROM {d})), "
                "greatest(max(day), (SELECT max(data) FROM {d})) FROM "
                "(SELECT (data_movimento AT TIME ZONE %(tz)s)::date AS day FROM {t} "
                "WHERE {w} AND (data_movimento < %(lo)s::timestamptz + interval '1 day' "
                "OR data_movimento > %(hi)s::timestamptz - interval '1 day')) m"
            ).format(t=t, w=where, d=d), {"tz": timezone, "lo": lo, "hi": hi}).fetchone()


def _noted(conn: Any, schema: str, notes: str, entity: str) -> list[int] | None:
    """The ids noted in `notes` (trusted_pendente, dims_pendente) for `entity`; None
    when the whole table is noted or more than NARROW_LIMIT ids are."""
    found = conn.execute(sql.SQL(
        "SELECT bool_or(id IS NULL), array_agg(DISTINCT id) FILTER (WHERE id IS NOT NULL) "
        "FROM {} WHERE tabela = %s").format(sql.Identifier(schema, notes)), (entity,)).fetchone()
    whole, ids = found[0], found[1] or []
    return None if whole or len(ids) > NARROW_LIMIT else ids
