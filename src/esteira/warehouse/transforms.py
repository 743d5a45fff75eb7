"""The warehouse's rules as pure DataFrame functions: cleaning, type 1, facts, flat
(SCD2: scd2.py).

Every change to a dimension or to the fact table is computed here ONCE, as a frame of
the rows to write with `_acao` 'I' (insert) or 'U' (update, matched on the key);
io.py applies that frame to PostgreSQL or Delta. Nothing here reads or writes.
"""

from __future__ import annotations

import operator
import warnings
from datetime import date, datetime
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from esteira.quality import Expectation
from esteira.warehouse.schemas import FATO

ACTION = "_acao"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# new_keys numbers new members over one global order on purpose (dense, stable surrogate
# keys; only the new rows go through it): Spark Connect's client warns about that plan
# when it is sent, so the warning is silenced for that message only.
warnings.filterwarnings("ignore", message="WARN WindowExpression: No Partition Defined")


def trusted_rules(table: str, load_date: date) -> list[Expectation]:
    """What makes a source row unusable (drop: it goes to trusted_rejeitos with the
    rule's name), or only suspicious (warn: counted in the run log)."""

    def present(column: str) -> Expectation:
        return Expectation(f"{column} is missing", f"{column} IS NOT NULL", "drop")

    rules = {
        "associado": [
            present("id"), present("nome"), present("atualizado_em"),
            Expectation(
                "data_nascimento is missing or after the load date",
                f"data_nascimento IS NOT NULL AND data_nascimento <= DATE'{load_date}'",
                "drop",
            ),
            Expectation(
                "email is not an e-mail address", f"email IS NULL OR email rlike '{_EMAIL}'"
            ),
        ],
        "conta": [present("id"), present("tipo"), present("id_associado")],
        "cartao": [
            present("id"), present("id_conta"),
            Expectation(
                "num_cartao is not 13 to 19 digits", "num_cartao rlike '^[0-9]{13,19}$'", "drop"
            ),
        ],
        "movimento": [
            present("id"), present("vlr_transacao"), present("data_movimento"),
            present("id_cartao"), present("atualizado_em"),
        ],
    }
    return rules[table]


def tidy(column: str) -> Column:
    """Trimmed, inner runs of spaces made one, blank made null."""
    text = F.regexp_replace(F.trim(F.col(column)), r"\s+", " ")
    return F.when(text != "", text)


def titled(column: str) -> Column:
    """'  ENSINO   superior ' -> 'Ensino Superior', 'PÓS-GRADUAÇÃO' -> 'Pós-graduação':
    each space-separated word capitalised (not initcap: the engines disagree on whether
    a hyphen starts a word)."""
    words = F.split(F.lower(tidy(column)), " ")
    capital = F.transform(words, lambda w: F.concat(F.upper(F.substring(w, 1, 1)),
                                                    F.substring(w, 2, 1000)))
    return F.array_join(capital, " ")


def clean(raw: DataFrame, table: str, load_date: date) -> DataFrame:
    """A raw table's columns trimmed and in one case; associado gets idade (whole years
    on `load_date`)."""
    if table == "associado":
        return raw.select(
            "id", titled("nome").alias("nome"), titled("sobrenome").alias("sobrenome"),
            "data_nascimento", F.lower(tidy("email")).alias("email"),
            titled("estado_civil").alias("estado_civil"),
            titled("escolaridade").alias("escolaridade"),
            idade(load_date).alias("idade"), "atualizado_em",
        )
    if table == "conta":
        return raw.select("id", titled("tipo").alias("tipo"), "data_criacao", "id_associado")
    if table == "cartao":
        digits = F.regexp_replace(F.col("num_cartao"), r"[\s.-]", "")
        return raw.select(
            "id", digits.alias("num_cartao"), F.upper(tidy("nom_impresso")).alias("nom_impresso"),
            "data_criacao", "id_conta", "id_associado",
        )
    return raw.select(
        "id", "vlr_transacao", tidy("des_transacao").alias("des_transacao"), "data_movimento",
        "id_cartao", "atualizado_em",
    )


def idade(load_date: date) -> Column:
    """Whole years from data_nascimento to `load_date`."""
    return F.floor(F.months_between(F.lit(load_date), F.col("data_nascimento")) / 12).cast("int")


def idade_turned(trusted: DataFrame, load_date: date) -> DataFrame:
    """The ids of trusted associados whose idade on `load_date` is not the one kept (a
    birthday since their last cleaning): cleaned again though their raw rows did not
    change."""
    return trusted.filter(~idade(load_date).eqNullSafe(F.col("idade"))).select("id").distinct()


def dedupe(clean_rows: DataFrame, table: str) -> DataFrame:
    """One row per key: associado per (id, atualizado_em) (a change time is a version),
    movimento per id (its latest atualizado_em), conta and cartao per id. Ties keep one
    row chosen by every column, so reruns keep the same one. Keys are never null here
    (the trusted rules reject such rows)."""
    keys = ["id", "atualizado_em"] if table == "associado" else ["id"]
    order = [F.col(c).desc_nulls_last() for c in clean_rows.columns if c not in keys]
    if table == "movimento":
        order = [F.col("atualizado_em").desc_nulls_last(), *order]
    rank = F.row_number().over(Window.partitionBy(*keys).orderBy(*order))
    # only the keys seen twice are ranked: a window sorts every row it is given (5M
    # movements, nearly all unique: 10.5 s ranked whole, against a count by key)
    repeated = clean_rows.groupBy(*keys).count().filter("count > 1").drop("count")
    ranked = (clean_rows.join(repeated, keys, "left_semi")
              .withColumn("_n", rank).filter("_n = 1").select(*clean_rows.columns))
    single = clean_rows.join(repeated, keys, "left_anti").select(*clean_rows.columns)
    return single.unionByName(ranked)


def rejects(rejected: DataFrame, table: str, load_ts: datetime) -> DataFrame:
    """quality.rejected_rows' output as trusted_rejeitos rows: table, id, rule broken."""
    return rejected.select(
        F.lit(table).alias("tabela"), F.col("id").cast("string").alias("id"),
        F.col("regra"), F.lit(load_ts).alias("rejeitado_em"),
    )


def same_values(columns: tuple[str, ...] | list[str], prefix: str) -> Column:
    """Every column equal to its `prefix`ed twin, null equal to null."""
    return reduce(operator.and_, [F.col(c).eqNullSafe(F.col(prefix + c)) for c in columns])


def new_keys(rows: DataFrame, dim: DataFrame, sk: str, order: list[str],
             top: int | None = None) -> DataFrame:
    """Fresh surrogate keys after the dimension's largest (the unknown member is -1):
    `top` when given (the caller passed only part of the dimension), else `dim`'s."""
    number = F.row_number().over(Window.orderBy(*order))
    if top is not None:
        return rows.withColumn(sk, (F.lit(max(top, 0)) + number).cast("long"))
    largest = dim.agg(F.greatest(F.coalesce(F.max(sk), F.lit(0)), F.lit(0)).alias("_top"))
    return rows.crossJoin(largest).withColumn(
        sk, (F.col("_top") + number).cast("long")).drop("_top")


def type1_changes(
    dim: DataFrame, rows: DataFrame, entity: str, attrs: list[str], load_ts: datetime,
    unknown: int, top: int | None = None,
) -> DataFrame:
    """Inserts for new ids and in-place updates for changed ones (type 1: no history).

    `rows` is the trusted table (id + attrs); the dimension's columns are sk_<entity>,
    id_<entity>, attrs, carregado_em.
    """
    sk, key = f"sk_{entity}", f"id_{entity}"
    existing = dim.filter(F.col(sk) != unknown).select(
        sk, key, *[F.col(c).alias("_o_" + c) for c in attrs])
    joined = rows.select(F.col("id").alias(key), *attrs).join(existing, key, "left")
    updates = joined.filter(F.col(sk).isNotNull() & ~same_values(attrs, "_o_")).withColumn(
        ACTION, F.lit("U"))
    inserts = new_keys(joined.filter(F.col(sk).isNull()), dim, sk, [key], top).withColumn(
        ACTION, F.lit("I"))
    columns = [sk, key, *attrs, "carregado_em", ACTION]
    return (
        updates.unionByName(inserts).withColumn("carregado_em", F.lit(load_ts)).select(*columns)
    )


def local_day_key(column: str, timezone: str) -> Column:
    """yyyymmdd of an instant's day in `timezone` (dim_data's key)."""
    local = F.from_utc_timestamp(F.col(column), timezone)
    return F.date_format(local, "yyyyMMdd").cast("int")


def fact_rows(
    movements: DataFrame, dim_cartao: DataFrame, dim_conta: DataFrame,
    dim_associado: DataFrame, timezone: str, unknown: int, first_from: datetime,
) -> DataFrame:
    """Fact rows (FATO, without data_hora_atualizacao_registro) for trusted movements.

    The associado's surrogate key is the version valid at the movement's time; a
    movement older than an associado's first version takes that first version. A card,
    account or associado the dimensions do not know gets the unknown member (-1).
    """
    cards = dim_cartao.filter(F.col("sk_cartao") != unknown).select(
        F.col("id_cartao").alias("_card"), "sk_cartao", F.col("id_conta").alias("_conta"),
        F.col("id_associado").alias("_assoc"))
    accounts = dim_conta.filter(F.col("sk_conta") != unknown).select(
        F.col("id_conta").alias("_conta"), "sk_conta")
    first = F.min("valid_from").over(Window.partitionBy("id_associado"))
    versions = dim_associado.filter(F.col("sk_associado") != unknown).select(
        F.col("id_associado").alias("_assoc"), "sk_associado",
        F.when(F.col("valid_from") == first, F.lit(first_from))
        .otherwise(F.col("valid_from")).alias("_from"),
        F.col("valid_to").alias("_to"),
    )
    m = movements.join(cards, movements["id_cartao"] == cards["_card"], "left")
    m = m.join(accounts, "_conta", "left")
    in_version = (
        (m["_assoc"] == versions["_assoc"])
        & (m["data_movimento"] >= versions["_from"]) & (m["data_movimento"] < versions["_to"])
    )
    m = m.join(versions, in_version, "left")
    return m.select(
        F.col("id").alias("id_movimento"),
        F.coalesce("sk_associado", F.lit(unknown)).cast("long").alias("sk_associado"),
        F.coalesce("sk_conta", F.lit(unknown)).cast("long").alias("sk_conta"),
        F.coalesce("sk_cartao", F.lit(unknown)).cast("long").alias("sk_cartao"),
        local_day_key("data_movimento", timezone).alias("sk_data"),
        "vlr_transacao", "des_transacao", "data_movimento",
    )


def fact_changes(desired: DataFrame, existing: DataFrame, load_ts: datetime) -> DataFrame:
    """Movements new to the fact table ('I') or whose row differs from it ('U'),
    stamped with `load_ts` in data_hora_atualizacao_registro."""
    compared = [c for c in FATO if c not in ("id_movimento", "data_hora_atualizacao_registro")]
    old = existing.select("id_movimento", F.lit(True).alias("_known"),
                          *[F.col(c).alias("_o_" + c) for c in compared])
    joined = desired.join(old, "id_movimento", "left")
    action = F.when(F.col("_known").isNull(), F.lit("I")).when(~same_values(compared, "_o_"), "U")
    return (
        joined.withColumn(ACTION, action)
        .filter(F.col(ACTION).isNotNull())
        .withColumn("data_hora_atualizacao_registro", F.lit(load_ts))
        .select(*FATO, ACTION)
    )


def flat(
    fato: DataFrame, dim_associado: DataFrame, dim_cartao: DataFrame, dim_conta: DataFrame,
    timezone: str,
) -> DataFrame:
    """movimento_flat: one text row per movement, the columns and order of schemas.FLAT.

    Times are local (`timezone`) as yyyy-MM-dd HH:mm:ss, money with a dot and two
    decimals, idade of the associado's version at the movement's time; rows by
    data_movimento then movement id.
    """

    def local(column: str) -> Column:
        return local_text(F.col(column), timezone)

    a = dim_associado.select("sk_associado", "nome", "sobrenome", "idade")
    c = dim_cartao.select("sk_cartao", "num_cartao", "nom_impresso",
                          F.col("data_criacao").alias("_cartao_criado"))
    k = dim_conta.select("sk_conta", "tipo", F.col("data_criacao").alias("_conta_criada"))
    rows = fato.join(a, "sk_associado", "left").join(c, "sk_cartao", "left").join(
        k, "sk_conta", "left")
    return rows.select(
        F.col("nome").alias("nome_associado"),
        F.col("sobrenome").alias("sobrenome_associado"),
        F.col("idade").cast("string").alias("idade_associado"),
        F.col("vlr_transacao").cast("decimal(10,2)").cast("string").alias(
            "vlr_transacao_movimento"),
        F.col("des_transacao").alias("des_transacao_movimento"),
        local("data_movimento").alias("data_movimento"),
        F.col("num_cartao").alias("numero_cartao"),
        F.col("nom_impresso").alias("nome_impresso_cartao"),
        local("_cartao_criado").alias("data_criacao_cartao"),
        F.col("tipo").alias("tipo_conta"),
        local("_conta_criada").alias("data_criacao_conta"),
        F.col("data_movimento").alias("_ts"), F.col("id_movimento").alias("_id"),
    ).orderBy("_ts", "_id").drop("_ts", "_id")


def local_text(instant: Column, timezone: str) -> Column:
    """An instant's local time in `timezone` as yyyy-MM-dd HH:mm:ss (fractions cut, as
    PostgreSQL's date_trunc): a cast, since the session's zone is UTC (date_format took
    three times as long on Sail: 5M rows, 3 s against 1.6 s)."""
    return F.date_trunc("second", F.from_utc_timestamp(instant, timezone)).cast("string")
