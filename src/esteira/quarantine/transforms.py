"""Quarantine rules as pure DataFrame functions (issue 4; seed 001).

For load date D and a channel of N days:
- qtd_dias = D - data_envio; saida_prevista = data_envio + N (first day the client may be
  contacted again on that channel);
- a (client, channel) row is in quarantine on D when data_envio <= D < saida_prevista;
- channels without days (Fraude) stay in quarantine while data_exclus is NULL or after D,
  with qtd_dias and saida_prevista NULL;
- several sends on one channel keep the latest data_envio: one row per (id_cliente, canal).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from esteira.columns import blank_to_null, is_valid_email, is_valid_phone_br
from esteira.quality import Expectation, rejected_rows, rule_column
from esteira.quarantine.config import SourceSettings
from esteira.quarantine.schemas import COMMON_COLUMNS, OUTPUT_COLUMNS, REJECT_COLUMNS

SNAPSHOT = "_snapshot"


def field_type(schema: T.StructType, path: str) -> T.DataType | None:
    """The type of a (possibly dotted) column, or None when it does not exist."""
    current: T.DataType = schema
    for part in path.split("."):
        if not isinstance(current, T.StructType):
            return None
        match = [f for f in current.fields if f.name == part]
        if not match:
            return None
        current = match[0].dataType
    return current


def as_date(col: Column, dtype: T.DataType | None) -> Column:
    """A date from a date, timestamp or text column; NULL when the text is not a date.

    Text may be ISO (2024-05-08, 2024-05-08 10:00:00, 2024-05-08T10:00:00Z) or Brazilian
    (08/05/2024); the time part is ignored.
    """
    if isinstance(dtype, T.DateType):
        return col
    if isinstance(dtype, T.TimestampType | T.TimestampNTZType):
        return F.to_date(col)
    text = F.trim(col.cast("string"))
    iso = F.regexp_extract(text, r"^(\d{4}-\d{2}-\d{2})", 1)
    br = F.regexp_replace(
        F.regexp_extract(text, r"^(\d{2}/\d{2}/\d{4})", 1), r"^(\d{2})/(\d{2})/(\d{4})$", "$3-$2-$1"
    )
    chosen = F.when(iso != "", iso).when(br != "", br)
    return chosen.try_cast("date")


def as_text(col: Column, dtype: T.DataType | None) -> Column:
    """Identifiers and phones as text; whole numbers lose the '.0' a float would print."""
    if isinstance(dtype, T.FloatType | T.DoubleType | T.DecimalType):
        col = col.cast("decimal(38,0)")
    return blank_to_null(col.cast("string"))


def standardize(df: DataFrame, source: SourceSettings) -> DataFrame:
    """Maps one source onto COMMON_COLUMNS (+ `_snapshot` when it has a snapshot date)."""
    schema = df.schema

    def pick(target: str) -> tuple[Column, T.DataType | None]:
        name = source.source_column(target)
        return F.col(name), field_type(schema, name)

    id_col, id_type = pick("id_cliente")
    email, _ = pick("email")
    phone, phone_type = pick("telefone")
    sent, sent_type = pick("data_envio")
    subject_name = source.source_column("assunto")
    subject = F.lit(source.assunto) if subject_name is None else blank_to_null(F.col(subject_name))
    removed = (
        as_date(F.col(source.removal_column), field_type(schema, source.removal_column))
        if source.removal_column
        else F.lit(None).cast("date")
    )
    cols = [
        as_text(id_col, id_type).alias("id_cliente"),
        F.lit(source.canal).alias("canal"),
        blank_to_null(email).alias("email"),
        as_text(phone, phone_type).alias("telefone"),
        subject.cast("string").alias("assunto"),
        as_date(sent, sent_type).alias("data_envio"),
        removed.alias("data_exclus"),
        F.lit(source.days).cast("int").alias("dias"),
    ]
    if source.snapshot_column:
        snap = source.snapshot_column
        cols.append(as_date(F.col(snap), field_type(schema, snap)).alias(SNAPSHOT))
    return df.select(*cols)


def keep_snapshot(df: DataFrame, load_date: date) -> DataFrame:
    """Only rows of the load date's snapshot count (CRM: data_base = D)."""
    if SNAPSHOT not in df.columns:
        return df.select(*COMMON_COLUMNS)
    return df.filter(F.col(SNAPSHOT) == F.lit(load_date)).select(*COMMON_COLUMNS)


def rules(load_date: date) -> list[Expectation]:
    """The quality rules: drops go to rejects with the rule's name, warnings are counted."""
    day = load_date.isoformat()
    return [
        Expectation("id_cliente_nulo", "id_cliente IS NOT NULL", "drop"),
        Expectation("data_envio_nula", "data_envio IS NOT NULL", "drop"),
        Expectation(
            "data_envio_futura", f"data_envio IS NULL OR data_envio <= DATE'{day}'", "drop"
        ),
        Expectation("email_invalido", "email IS NULL OR _email_ok", "warn"),
        Expectation("telefone_invalido", "telefone IS NULL OR _telefone_ok", "warn"),
    ]


# (id_cliente, canal) is the table's key: a duplicate fails the run before any write.
# Measured by key_counts; the condition says what it counts (rows beyond one per key).
KEY_RULE = Expectation(
    "chave_unica",
    "row_number() OVER (PARTITION BY id_cliente, canal ORDER BY data_envio) = 1",
    "fail",
)


def with_checks(df: DataFrame) -> DataFrame:
    """Adds the helper columns the warn rules read (_email_ok, _telefone_ok)."""
    return df.withColumn("_email_ok", is_valid_email("email")).withColumn(
        "_telefone_ok", is_valid_phone_br("telefone")
    )


def rejects(flagged: DataFrame, checks: list[Expectation], load_date: date) -> DataFrame:
    """Rejected rows with `regra` (the broken rules) and the load date."""
    return (
        rejected_rows(flagged, checks)
        .withColumn("data_carga", F.lit(load_date))
        .select(*REJECT_COLUMNS)
    )


_SEP = "\u001f"  # ASCII unit separator: packs one send into one sortable string
_PACKED = ("assunto", "email", "telefone")


def _pack() -> Column:
    """data_envio first (ISO sorts by date), then the text fields, NULL kept apart from ''.

    max() over this string picks the latest send, ties broken by assunto/email/telefone,
    and runs as a plain string aggregate: several times faster than max(struct(...)).
    """
    parts = [F.date_format("data_envio", "yyyy-MM-dd")]
    parts += [
        F.coalesce(F.concat(F.lit("1"), F.translate(F.col(c), _SEP, "")), F.lit("0"))
        for c in _PACKED
    ]
    return F.concat_ws(_SEP, *parts)


def _unpack(packed: Column, i: int) -> Column:
    part = F.split(packed, _SEP).getItem(i)
    return F.when(part.startswith("1"), F.substring(part, 2, 1 << 30))


def build_quarantine(passed: DataFrame, load_date: date) -> DataFrame:
    """Who is in quarantine on the load date, one row per (id_cliente, canal)."""
    day = F.lit(load_date)
    exit_date = F.when(F.col("dias").isNull(), F.lit(None).cast("date")).otherwise(
        F.date_add(F.col("data_envio"), F.col("dias"))
    )
    days_since = F.when(F.col("dias").isNull(), F.lit(None).cast("int")).otherwise(
        F.datediff(day, F.col("data_envio")).cast("int")
    )
    active = (
        passed.withColumn("saida_prevista", exit_date)
        .filter(F.col("data_envio") <= day)
        .filter(F.col("saida_prevista").isNull() | (day < F.col("saida_prevista")))
        .filter(F.col("data_exclus").isNull() | (F.col("data_exclus") > day))
    )
    latest = active.groupBy("id_cliente", "canal").agg(
        F.max(_pack()).alias("_p"), F.max("dias").alias("dias")
    )
    packed = F.col("_p")
    return (
        latest.withColumn("data_envio", F.split(packed, _SEP).getItem(0).cast("date"))
        .withColumn("assunto", _unpack(packed, 1))
        .withColumn("email", _unpack(packed, 2))
        .withColumn("telefone", _unpack(packed, 3))
        .withColumn("qtd_dias", days_since)
        .withColumn("saida_prevista", exit_date)
        .withColumn("data_carga", day)
        .select(*OUTPUT_COLUMNS)
    )


def key_counts(quarantine: DataFrame) -> DataFrame:
    """Per canal: `_rows` in quarantine and the rows breaking KEY_RULE, in the columns
    QualityReport.from_counts reads (`_rejected`, the rule's `_rule_0`).

    The table holds one data_carga; rows beyond one per id_cliente are counted as rows
    minus distinct ids: one aggregate, where the rule's window would sort every row.
    """
    rows = F.count(F.lit(1))
    beyond_one = rows - F.count_distinct("id_cliente")
    return quarantine.groupBy("canal").agg(
        rows.alias("_rows"), beyond_one.alias("_rejected"), beyond_one.alias(rule_column(0))
    )


def suppression_reasons(
    quarantine: DataFrame, channel: str, all_channel_canais: list[str]
) -> DataFrame:
    """Per client: why and until when a campaign on `channel` may not contact them.

    Policy: the same channel's quarantine, plus Fraude and Restritos (configurable) on
    every channel. `saida_prevista` is the latest end date, NULL when one reason has none.
    """
    canais = sorted({channel, *all_channel_canais})
    relevant = quarantine.filter(F.col("canal").isin(canais))
    reason = F.concat_ws(": ", F.col("canal"), F.coalesce(F.col("assunto"), F.lit("-")))
    return relevant.groupBy("id_cliente").agg(
        F.concat_ws("; ", F.sort_array(F.collect_list(reason))).alias("motivo"),
        F.when(F.max(F.col("saida_prevista").isNull().cast("int")) == 1, F.lit(None).cast("date"))
        .otherwise(F.max("saida_prevista"))
        .alias("saida_prevista"),
    )


def split_audience(audience: DataFrame, reasons: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(allowed, suppressed): the audience rows without / with a suppression reason."""
    id_type = field_type(audience.schema, "id_cliente")
    keyed = audience.withColumn("id_cliente", as_text(F.col("id_cliente"), id_type))
    allowed = keyed.join(reasons.select("id_cliente"), "id_cliente", "left_anti")
    suppressed = keyed.join(reasons, "id_cliente", "inner")
    return allowed, suppressed
