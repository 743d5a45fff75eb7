"""The flat file's lines computed by the engine, byte for byte what PostgreSQL's
`COPY ... (FORMAT csv)` writes for flat_render's SELECT (pure: DataFrame in and out).

A whole file rendered by PostgreSQL took most of a first load's extract (5M rows:
23-31 s on this machine's two cores); the embedded engine builds the same lines on
all cores from the facts it has just loaded (flat_file writes them). As in
flat_render, each dimension's part of a line is made once per dimension row.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from esteira.warehouse.transforms import local_text


def csv_field(value: Column, delimiter: str) -> Column:
    """A text value as PostgreSQL's CSV output writes it: NULL as nothing; quoted (its
    quotes doubled) when empty or holding the delimiter, a quote or a line break."""
    quoted = (value == "") | value.contains(delimiter) | value.contains('"') | \
        value.contains("\n") | value.contains("\r")
    return (F.when(value.isNull(), F.lit(""))
            .when(quoted, F.concat(F.lit('"'), F.regexp_replace(value, '"', '""'), F.lit('"')))
            .otherwise(value))


def _part(dim: DataFrame, key: str, fields: list[Column], delimiter: str) -> DataFrame:
    """key -> the dimension row's fields as CSV text, joined by the delimiter."""
    text = F.concat_ws(delimiter, *[csv_field(f, delimiter) for f in fields])
    return dim.select(F.col(key), text.alias(f"_{key}"))


def flat_lines(fato: DataFrame, dim_associado: DataFrame, dim_cartao: DataFrame,
               dim_conta: DataFrame, timezone: str, delimiter: str) -> DataFrame:
    """One row per movement: `line` (schemas.FLAT's columns as CSV, and a line break)
    and the file's order keys _ts (data_movimento) and _id (id_movimento), unordered.
    A key no dimension row has leaves that dimension's fields empty (NULL)."""
    a = _part(dim_associado, "sk_associado",
              [F.col("nome"), F.col("sobrenome"), F.col("idade").cast("string")], delimiter)
    c = _part(dim_cartao, "sk_cartao", [F.col("num_cartao"), F.col("nom_impresso"),
                                        local_text(F.col("data_criacao"), timezone)], delimiter)
    k = _part(dim_conta, "sk_conta",
              [F.col("tipo"), local_text(F.col("data_criacao"), timezone)], delimiter)
    rows = fato.join(a, "sk_associado", "left").join(c, "sk_cartao", "left").join(
        k, "sk_conta", "left")
    fields = [
        F.coalesce(F.col("_sk_associado"), F.lit(delimiter * 2)),
        csv_field(F.col("vlr_transacao").cast("decimal(10,2)").cast("string"), delimiter),
        csv_field(F.col("des_transacao"), delimiter),
        csv_field(local_text(F.col("data_movimento"), timezone), delimiter),
        F.coalesce(F.col("_sk_cartao"), F.lit(delimiter * 2)),
        F.coalesce(F.col("_sk_conta"), F.lit(delimiter)),
    ]
    return rows.select(F.concat(F.concat_ws(delimiter, *fields), F.lit("\n")).alias("line"),
                       F.col("data_movimento").alias("_ts"), F.col("id_movimento").alias("_id"))
