"""Columns of the quarantine tables and of the common shape every source is mapped to."""

from __future__ import annotations

# quarentena_global, partitioned by data_carga and canal (the seed's DDL, id_cliente as key)
OUTPUT_COLUMNS = [
    "id_cliente",
    "canal",
    "email",
    "telefone",
    "assunto",
    "data_envio",
    "qtd_dias",
    "saida_prevista",
    "data_carga",
]
PARTITION_COLUMNS = ["data_carga", "canal"]

# every source after its column mapping; `dias` is the channel's quarantine length
# (NULL: until removed at the source) and `data_exclus` the removal date, if any
COMMON_COLUMNS = [
    "id_cliente",
    "canal",
    "email",
    "telefone",
    "assunto",
    "data_envio",
    "data_exclus",
    "dias",
]

REJECT_COLUMNS = [
    "id_cliente",
    "canal",
    "email",
    "telefone",
    "assunto",
    "data_envio",
    "regra",
    "data_carga",
]
