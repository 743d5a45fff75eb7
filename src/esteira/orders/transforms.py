"""Orders' rules on DataFrames (pure): exports normalised, messages validated, versions.

- `canonical_frame`: an export's columns in any order, case and with aliases -> the
  canonical names (config.COLUMNS);
- `normalise`: text values -> types: statuses and channels through their vocabularies
  (any case, aliases), prices with the configured decimal mark, `data_pedido` with or
  without a UTC offset (a naive time is read in the configured zone) -> an instant;
- `validation_rules` + `flag`: issue 16's rules as quality Expectations, each with the
  action config gives it;
- `batch_outcome`: each record's fate; `newest_per_order` (on the collected Arrow
  table): within one batch only the newest event of an order is written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from esteira.brazil import fold
from esteira.errors import MissingColumnError
from esteira.orders.config import OrdersSettings
from esteira.orders.schemas import EVENT_TIME, FIELDS, MESSAGE_SCHEMA, REQUIRED
from esteira.quality import Expectation, flag_failures

_ACCENTED = "áàâãäéèêëíìîïóòôõöúùûüçñ"
_PLAIN = "aaaaaeeeeiiiiooooouuuucn"
_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"
_TIME_WITH_OFFSET = r"\d{2}:\d{2}(:\d{2})?(\.\d+)?\s*" + _OFFSET
_FORMATS = ("yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-dd", "dd/MM/yyyy HH:mm:ss",
            "dd/MM/yyyy HH:mm", "dd/MM/yyyy")
MONEY = "decimal(14,2)"
KNOWN_CITY = "_cidade_conhecida"
RECEIVED = "recebido_em"
_KEY_SEPARATOR = "\u0001"  # never in a UF or a city name
KAFKA_COLUMNS = ("kafka_topico", "kafka_particao", "kafka_offset", RECEIVED, "chave", "valor")


def header_key(name: str) -> str:
    """A column name for matching: folded, spaces and dashes as underscores."""
    return fold(name).replace(" ", "_").replace("-", "_")


def header_mapping(found: Iterable[str], aliases: Mapping[str, list[str]]) -> dict[str, str]:
    """Found column -> canonical column, for the columns an export has (the first found
    wins when two columns are aliases of one canonical name; unknown columns are left out)."""
    lookup = {header_key(alias): canon for canon, names in aliases.items()
              for alias in [canon, *names]}
    mapping: dict[str, str] = {}
    for column in found:
        canon = lookup.get(header_key(column))
        if canon is not None and canon not in mapping.values():
            mapping[column] = canon
    return mapping


def canonical_frame(df: DataFrame, aliases: Mapping[str, list[str]], source: str) -> DataFrame:
    """The export's columns renamed to the canonical ones, as text; a missing optional
    column is null; a missing required one is a MissingColumnError naming the source."""
    mapping = header_mapping(df.columns, aliases)
    by_canon = {canon: found for found, canon in mapping.items()}
    missing = [c for c in REQUIRED if c not in by_canon]
    if missing:
        raise MissingColumnError(source, missing, list(df.columns))
    return df.select(*[
        (F.col(f"`{by_canon[c]}`") if c in by_canon else F.lit(None)).cast("string").alias(c)
        for c in FIELDS
    ])


def parse_messages(records: DataFrame) -> DataFrame:
    """Kafka records (key, value, topic, partition, offset, timestamp) -> the message's
    fields as text, `_corrupt` when the value is not a JSON object, and the record's
    coordinates (kept for versions, the DLQ and the rejects table)."""
    text = F.col("value").cast("string")
    parsed = F.from_json(text, MESSAGE_SCHEMA, {"columnNameOfCorruptRecord": "_corrupt"})
    return records.select(
        parsed.alias("m"), F.col("topic").alias("kafka_topico"),
        F.col("partition").alias("kafka_particao"), F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias(RECEIVED), F.col("key").alias("chave"),
        F.col("value").alias("valor"),
    ).select(
        *[F.col(f"m.{name}").alias(name) for name in FIELDS],
        (F.col("valor").isNotNull() & F.col("m._corrupt").isNull()).alias("_legivel"),
        *KAFKA_COLUMNS,
    )


def fold_text(c: Column) -> Column:
    """The SQL twin of `esteira.brazil.fold`: lower case, no accents, single spaces."""
    folded = F.translate(F.lower(F.trim(c)), _ACCENTED, _PLAIN)
    return F.regexp_replace(folded, r"\s+", " ")


def _vocabulary(c: Column, vocabulary: Mapping[str, list[str]]) -> Column:
    """A value mapped to its canonical name through the aliases; unknown -> NULL."""
    pairs: list[Column] = []
    for canon, aliases in vocabulary.items():
        for alias in dict.fromkeys(fold(a) for a in [canon, *aliases]):
            pairs += [F.lit(alias), F.lit(canon)]
    return F.create_map(*pairs)[fold_text(c)]


def _decimal(c: Column, style: str) -> Column:
    """'1.234,56' (comma) or '1,234.56' (dot) -> decimal; anything else -> NULL. With the
    dot, a plain number ('123.90', nearly every value) is cast before any regex runs."""
    text = F.regexp_replace(F.trim(c), r"\s|R\$", "")
    if style == "comma":
        return F.translate(text, ",.", ".").try_cast(MONEY)  # '.' dropped, ',' -> '.'
    return F.coalesce(c.try_cast(MONEY), F.translate(text, ",", "").try_cast(MONEY))


def _instant(c: Column, zone: str) -> Column:
    """ISO or dd/mm/aaaa text -> an instant: with a UTC offset as given, a naive time
    read in `zone`. Fractions of a second are dropped (orders are timed to the second).
    The shops' usual 'yyyy-MM-dd HH:mm:ss' is parsed first, before any regex runs."""
    raw = F.trim(c)
    usual = F.to_utc_timestamp(F.try_to_timestamp(raw, F.lit(_FORMATS[0])), zone)
    has_offset = raw.rlike(_TIME_WITH_OFFSET)
    body = F.regexp_replace(F.when(has_offset, F.regexp_replace(raw, _OFFSET, "")).otherwise(raw),
                            "T", " ")
    body = F.trim(F.regexp_replace(body, r"\.\d+$", ""))
    naive = F.coalesce(*[F.try_to_timestamp(body, F.lit(fmt)) for fmt in _FORMATS])
    offset = F.regexp_extract(raw, _OFFSET, 1)
    digits = F.regexp_replace(offset, "[^0-9]", "")
    seconds = F.when(offset == "Z", F.lit(0)).otherwise(
        (F.substring(digits, 1, 2).cast("int") * 3600 + F.substring(digits, 3, 2).cast("int") * 60)
        * F.when(offset.startswith("-"), -1).otherwise(1))
    with_offset = F.timestamp_seconds(F.unix_seconds(naive) - seconds)
    return F.coalesce(usual, F.when(has_offset, with_offset)
                      .otherwise(F.to_utc_timestamp(naive, zone)))


def normalise(df: DataFrame, cfg: OrdersSettings) -> DataFrame:
    """Canonical text columns -> typed, canonical values. The text of the columns that a
    rule checks for presence or type stays beside them (`_txt_<name>`) for `flag`."""
    blank = {name: F.when(F.trim(F.col(name)) != "", F.trim(F.col(name))) for name in FIELDS}
    data = _instant(blank["data_pedido"], cfg.timezone)
    return df.select(
        *[c for c in df.columns if c not in FIELDS],
        *[blank[name].alias(f"_txt_{name}") for name in FIELDS],
        blank["pedido_id"].alias("pedido_id"),
        data.alias("data_pedido"),
        blank["cliente_id"].alias("cliente_id"),
        blank["produto_id"].alias("produto_id"),
        blank["categoria"].alias("categoria"),
        F.coalesce(blank["qtde"].try_cast("int"),
                   F.regexp_replace(blank["qtde"], r"[.,]0+$", "").try_cast("int")).alias("qtde"),
        _decimal(blank["preco_unitario"], cfg.decimal).alias("preco_unitario"),
        _decimal(blank["valor_total"], cfg.decimal).alias("valor_total"),
        F.upper(blank["uf"]).alias("uf"),
        F.regexp_replace(blank["cidade"], r"\s+", " ").alias("cidade"),
        _vocabulary(blank["canal_venda"], cfg.channels).alias("canal_venda"),
        _vocabulary(blank["status_pedido"], cfg.statuses).alias("status_pedido"),
        F.coalesce(_instant(blank[EVENT_TIME], cfg.timezone), data).alias(EVENT_TIME),
    )


def validation_rules(cfg: OrdersSettings) -> list[Expectation]:
    """Issue 16's rules; actions from config. Each value rule lets a missing value pass,
    so that a row breaks exactly the rule about what is wrong with it."""
    present = " AND ".join(f"_txt_{name} IS NOT NULL" for name in REQUIRED)
    parsed = " AND ".join(
        f"(_txt_{name} IS NULL OR {name} IS NOT NULL)"
        for name in ("data_pedido", "qtde", "preco_unitario", "valor_total", EVENT_TIME))
    tolerance = cfg.future_tolerance_seconds
    conditions = {
        "mensagem_legivel": "_legivel",
        "campos_obrigatorios": f"NOT _legivel OR ({present})",
        "tipos": f"NOT _legivel OR ({parsed})",
        "status_conhecido": "_txt_status_pedido IS NULL OR status_pedido IS NOT NULL",
        "qtde_positiva": "qtde IS NULL OR qtde > 0",
        "preco_nao_negativo": "preco_unitario IS NULL OR preco_unitario >= 0",
        "valor_total_confere": "qtde IS NULL OR preco_unitario IS NULL OR valor_total IS NULL"
                               " OR abs(valor_total - qtde * preco_unitario) <= 0.01",
        "data_nao_futura": f"data_pedido IS NULL OR unix_seconds(data_pedido) <= "
                           f"unix_seconds({RECEIVED}) + {tolerance}",
        "canal_conhecido": "NOT _legivel OR canal_venda IS NOT NULL",
        "cidade_conhecida_na_uf": f"NOT _legivel OR {KNOWN_CITY}",
    }
    return [Expectation(name, condition, cfg.rules.get(name, "drop"))
            for name, condition in conditions.items()]


def city_key(uf: str, folded_city: str) -> str:
    """How `flag` looks up a place: UF and folded city name (`esteira.brazil.fold`)."""
    return f"{uf}{_KEY_SEPARATOR}{folded_city}"


def flag(normalised: DataFrame, known_cities: Collection[str],
         rules: list[Expectation]) -> DataFrame:
    """Adds `_dq_failed` (the rules each row breaks). `known_cities` holds the `city_key`
    of every known place: an IN list that Spark turns into a hash set inside the plan.
    It was a broadcast join, which re-ran its broadcast in every micro-batch (a Spark job
    of its own, measured ~0.1-0.4 s per batch)."""
    key = F.concat(F.col("uf"), F.lit(_KEY_SEPARATOR), fold_text(F.col("cidade")))
    known = F.coalesce(key.isin(sorted(known_cities)), F.lit(False))
    return flag_failures(normalised.withColumn(KNOWN_CITY, known), rules)


def export_records(canonical: DataFrame, received: Column | None = None) -> DataFrame:
    """An export read from a file as if it were messages: legible, no Kafka coordinates
    (offset = row order is not known: NULL), received now (the future-date rule)."""
    return canonical.select(
        "*", F.lit(True).alias("_legivel"), F.lit(None).cast("string").alias("kafka_topico"),
        F.lit(None).cast("int").alias("kafka_particao"),
        F.lit(None).cast("long").alias("kafka_offset"),
        (received if received is not None else F.current_timestamp()).alias(RECEIVED),
        F.lit(None).cast("binary").alias("chave"), F.lit(None).cast("binary").alias("valor"),
    )


def batch_outcome(flagged: DataFrame, rules: list[Expectation]) -> DataFrame:
    """Each record's fate in one frame (one collect per micro-batch, no shuffle):
    `_rejeitado` (broke a drop rule; `regra` names them), `_passou` (broke no drop or
    fail rule: a candidate for the upsert, see `newest_per_order`), the typed order with
    `versao`, the raw key and value of rejects only."""
    drop = [r.name for r in rules if r.action == "drop"] or [""]
    stop = [r.name for r in rules if r.action in ("drop", "fail")] or [""]
    failed = F.col("_dq_failed")
    rejected = F.arrays_overlap(failed, F.array(*[F.lit(n) for n in drop]))
    passed = ~F.arrays_overlap(failed, F.array(*[F.lit(n) for n in stop]))
    return flagged.select(
        *[F.col(c) for c in FIELDS], F.unix_micros(EVENT_TIME).alias("versao"),
        "kafka_topico", "kafka_particao", "kafka_offset", RECEIVED, "_dq_failed",
        rejected.alias("_rejeitado"), passed.alias("_passou"),
        F.array_join(F.array_intersect(failed, F.array(*[F.lit(n) for n in drop])), ",")
        .alias("regra"),
        F.when(rejected, F.col("chave")).alias("chave"),
        F.when(rejected, F.col("valor")).alias("valor"),
    )


def newest_per_order(outcome: pa.Table) -> pa.Table:
    """The collected batch's records that passed, only the newest event of each order
    (highest `versao`, then Kafka offset), in pedido_id order. Done on the Arrow table the
    batch is collected into, not with a window in Spark: that needed a shuffle (a second
    stage) per micro-batch and cost more than this sort (measured: docs/orders.md)."""
    passed = outcome.filter(outcome["_passou"])
    rows = passed.num_rows
    if rows < 2:
        return passed
    ordered = passed.take(pc.sort_indices(passed, sort_keys=[
        ("pedido_id", "ascending"), ("versao", "descending"), ("kafka_offset", "descending")]))
    ids = ordered["pedido_id"]
    repeated = pc.fill_null(pc.equal(ids.slice(1), ids.slice(0, rows - 1)), False)
    first = pa.concat_arrays([pa.array([True]), pc.invert(repeated.combine_chunks())])
    return ordered.filter(first)
