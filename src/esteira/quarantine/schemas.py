"""Columns of the quarantine tables and of the common shape every source is mapped to."""

from __future__ import annotations

# one send to a client: what every source, the table and the rejects have in common
CONTACT_COLUMNS = ["id_cliente", "canal", "email", "telefone", "assunto", "data_envio"]

# quarentena_global, partitioned by data_carga and canal (the seed's DDL, id_cliente as key)
OUTPUT_COLUMNS = [*CONTACT_COLUMNS, "qtd_dias", "saida_prevista", "data_carga"]
PARTITION_COLUMNS = ["data_carga", "canal"]

# every source after its column mapping; `dias` is the channel's quarantine length
# (NULL: until removed at the source) and `data_exclus` the removal date, if any
COMMON_COLUMNS = [*CONTACT_COLUMNS, "data_exclus", "dias"]

# quarentena_rejeitados: `regra` names the broken rules
REJECT_COLUMNS = [*CONTACT_COLUMNS, "regra", "data_carga"]
