"""The source's tables and the warehouse's tables, written once.

Source columns carry a kind (id, text, date, timestamp, money): reading casts each to
one type, so both engines see the same schema whatever the source declared.
Warehouse DDL is PostgreSQL's; the Delta target takes the same columns from the frames.
"""

from __future__ import annotations

SOURCE: dict[str, dict[str, str]] = {
    "associado": {
        "id": "id", "nome": "text", "sobrenome": "text", "data_nascimento": "date",
        "email": "text", "estado_civil": "text", "escolaridade": "text",
        "atualizado_em": "timestamp",
    },
    "conta": {"id": "id", "tipo": "text", "data_criacao": "timestamp", "id_associado": "id"},
    "cartao": {
        "id": "id", "num_cartao": "text", "nom_impresso": "text", "data_criacao": "timestamp",
        "id_conta": "id", "id_associado": "id",
    },
    "movimento": {
        "id": "id", "vlr_transacao": "money", "des_transacao": "text",
        "data_movimento": "timestamp", "id_cartao": "id", "atualizado_em": "timestamp",
    },
}
SMALL_TABLES = ("associado", "conta", "cartao")  # read whole every run
PG_TYPE = {"id": "bigint", "text": "text", "date": "date", "timestamp": "timestamptz",
           "money": "numeric(10,2)"}
SPARK_TYPE = {"id": "bigint", "text": "string", "date": "date", "timestamp": "timestamp",
              "money": "decimal(10,2)"}
# PostgreSQL type names (information_schema.data_type) each kind accepts without a cast
ACCEPTED = {
    "id": {"bigint", "integer", "smallint"},
    "text": {"text", "character varying", "character"},
    "date": {"date"},
    "timestamp": {"timestamp with time zone", "timestamp without time zone"},
    "money": {"numeric", "integer", "bigint", "smallint"},
}
TEXT_TYPES = ACCEPTED["text"]

TYPE1_ASSOCIADO = ("nome", "sobrenome", "email")
TYPE2_ASSOCIADO = ("idade", "estado_civil", "escolaridade")
DIM_ASSOCIADO = (
    "sk_associado", "id_associado", *TYPE1_ASSOCIADO, *TYPE2_ASSOCIADO,
    "valid_from", "valid_to", "atual", "carregado_em",
)
DIM_CONTA = ("sk_conta", "id_conta", "tipo", "data_criacao", "id_associado", "carregado_em")
DIM_CARTAO = (
    "sk_cartao", "id_cartao", "num_cartao", "nom_impresso", "data_criacao", "id_conta",
    "id_associado", "carregado_em",
)
FATO = (
    "id_movimento", "sk_associado", "sk_conta", "sk_cartao", "sk_data", "vlr_transacao",
    "des_transacao", "data_movimento", "data_hora_atualizacao_registro",
)
FLAT = (
    "nome_associado", "sobrenome_associado", "idade_associado", "vlr_transacao_movimento",
    "des_transacao_movimento", "data_movimento", "numero_cartao", "nome_impresso_cartao",
    "data_criacao_cartao", "tipo_conta", "data_criacao_conta",
)
REJECTS = ("tabela", "id", "regra", "rejeitado_em")
CONTROL = "etl_controle"
FLAT_MARK = "movimento_flat"  # etl_controle's row of the flat file (its index's token)
FLAT_PENDING = "flat_pendente"  # days (sk_data) whose flat rows changed since the file
# associados whose versions moved since the facts step last ran, and from when on their
# movements may belong to another version (the facts step recomputes only those)
FACTS_PENDING = "fato_pendente"
# ids of the small tables whose raw rows the raw step changed since trusted last ran (a
# NULL id: the whole table); trusted cleans only those ids' rows
TRUSTED_PENDING = "trusted_pendente"
# the same for the dims step: ids of the small tables whose trusted rows the trusted step
# changed since dims last ran (a NULL id: the whole table); dims reads only those
DIMS_PENDING = "dims_pendente"
# the dimension columns the flat file shows: a change to them re-renders their facts' days
FLAT_VISIBLE = {
    "dim_associado": ("nome", "sobrenome", "idade"),
    "dim_cartao": ("num_cartao", "nom_impresso", "data_criacao"),
    "dim_conta": ("tipo", "data_criacao"),
}

# Tables in dependency order of the steps; `status` lists them in this order.
TABLES = (
    *(f"raw_{t}" for t in SOURCE), *(f"trusted_{t}" for t in SOURCE), "trusted_rejeitos",
    "dim_data", "dim_associado", "dim_conta", "dim_cartao", "fato_movimentacao_cartao",
)


def raw_ddl(table: str) -> str:
    cols = ", ".join(f"{c} {PG_TYPE[k]}" for c, k in SOURCE[table].items())
    return f"CREATE TABLE IF NOT EXISTS {{s}}.raw_{table} ({cols}, ingerido_em timestamptz)"


TRUSTED_DDL = {
    "associado": "CREATE TABLE IF NOT EXISTS {s}.trusted_associado (id bigint, nome text, "
    "sobrenome text, data_nascimento date, email text, estado_civil text, escolaridade text, "
    "idade integer, atualizado_em timestamptz, PRIMARY KEY (id, atualizado_em))",
    "conta": "CREATE TABLE IF NOT EXISTS {s}.trusted_conta (id bigint PRIMARY KEY, tipo text, "
    "data_criacao timestamptz, id_associado bigint)",
    "cartao": "CREATE TABLE IF NOT EXISTS {s}.trusted_cartao (id bigint PRIMARY KEY, "
    "num_cartao text, nom_impresso text, data_criacao timestamptz, id_conta bigint, "
    "id_associado bigint)",
    "movimento": "CREATE TABLE IF NOT EXISTS {s}.trusted_movimento (id bigint PRIMARY KEY, "
    "vlr_transacao numeric(10,2), des_transacao text, data_movimento timestamptz, "
    "id_cartao bigint, atualizado_em timestamptz, carregado_em timestamptz)",
}
DDL = [
    *(raw_ddl(t) for t in SOURCE),
    *TRUSTED_DDL.values(),
    "CREATE TABLE IF NOT EXISTS {s}.trusted_rejeitos (tabela text, id text, regra text, "
    "rejeitado_em timestamptz)",
    "CREATE TABLE IF NOT EXISTS {s}.dim_data (sk_data integer PRIMARY KEY, data date, "
    "ano integer, trimestre integer, mes integer, nome_mes text, dia integer, "
    "dia_semana integer, nome_dia_semana text, fim_de_semana boolean, feriado boolean, "
    "nome_feriado text)",
    "CREATE TABLE IF NOT EXISTS {s}.dim_associado (sk_associado bigint PRIMARY KEY, "
    "id_associado bigint NOT NULL, nome text, sobrenome text, email text, idade integer, "
    "estado_civil text, escolaridade text, valid_from timestamptz NOT NULL, "
    "valid_to timestamptz NOT NULL, atual boolean NOT NULL, carregado_em timestamptz, "
    "CHECK (valid_from < valid_to))",
    # exactly one current version per associado, enforced by the database itself
    "CREATE UNIQUE INDEX IF NOT EXISTS dim_associado_um_atual ON {s}.dim_associado "
    "(id_associado) WHERE atual",
    "CREATE UNIQUE INDEX IF NOT EXISTS dim_associado_versao ON {s}.dim_associado "
    "(id_associado, valid_from)",
    "CREATE TABLE IF NOT EXISTS {s}.dim_conta (sk_conta bigint PRIMARY KEY, "
    "id_conta bigint UNIQUE, tipo text, data_criacao timestamptz, id_associado bigint, "
    "carregado_em timestamptz)",
    "CREATE TABLE IF NOT EXISTS {s}.dim_cartao (sk_cartao bigint PRIMARY KEY, "
    "id_cartao bigint UNIQUE, num_cartao text, nom_impresso text, data_criacao timestamptz, "
    "id_conta bigint, id_associado bigint, carregado_em timestamptz)",
    "CREATE TABLE IF NOT EXISTS {s}.fato_movimentacao_cartao (id_movimento bigint PRIMARY KEY, "
    "sk_associado bigint NOT NULL, sk_conta bigint NOT NULL, sk_cartao bigint NOT NULL, "
    "sk_data integer NOT NULL, vlr_transacao numeric(10,2), des_transacao text, "
    "data_movimento timestamptz, data_hora_atualizacao_registro timestamptz)",
    f"CREATE TABLE IF NOT EXISTS {{s}}.{CONTROL} (tabela text PRIMARY KEY, "
    "high_water_mark timestamptz, ultima_carga timestamptz, linhas bigint)",
    f"CREATE TABLE IF NOT EXISTS {{s}}.{FLAT_PENDING} (sk_data integer PRIMARY KEY)",
    # what incremental runs select by: raw's rows of one load lie together on disk
    # (appended; BRIN: tiny, nearly free to keep), as do the facts of one day
    # (pg_apply.LAID_OUT); the few facts still on an unknown member. Trusted's rows of
    # one load do not: a corrected movement's new version stays on its page (a HOT
    # update), so a BRIN on carregado_em made each read of a load scan a third of the
    # table (21,000 pages, 0.2-0.6 s) where a B-tree reads its 55,000 rows (15 ms);
    # it costs a full load about 1 s more than a BRIN to build
    "CREATE INDEX IF NOT EXISTS raw_movimento_ingerido ON {s}.raw_movimento "
    "USING brin (ingerido_em)",
    "DROP INDEX IF EXISTS {s}.trusted_movimento_carregado",  # the BRIN of older versions
    "CREATE INDEX IF NOT EXISTS trusted_movimento_carga ON {s}.trusted_movimento "
    "(carregado_em)",
    "CREATE INDEX IF NOT EXISTS fato_dia ON {s}.fato_movimentacao_cartao USING brin (sk_data)",
    "CREATE INDEX IF NOT EXISTS fato_desconhecido ON {s}.fato_movimentacao_cartao "
    "(id_movimento) WHERE sk_cartao < 0 OR sk_associado < 0 OR sk_conta < 0",
    f"CREATE TABLE IF NOT EXISTS {{s}}.{FACTS_PENDING} (id_associado bigint PRIMARY KEY, "
    "desde timestamptz NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {{s}}.{TRUSTED_PENDING} (tabela text NOT NULL, id bigint)",
    f"CREATE TABLE IF NOT EXISTS {{s}}.{DIMS_PENDING} (tabela text NOT NULL, id bigint)",
    # the facts step analyses sk_data after inserting a new day (pg_apply.apply_write); a
    # sample of 3,000 rows instead of 30,000: 25 ms instead of 0.25-0.4 s on 5M facts,
    # and the extract's plan is the same
    "DO $$ BEGIN IF (SELECT attstattarget FROM pg_attribute WHERE attrelid = "
    "'{s}.fato_movimentacao_cartao'::regclass AND attname = 'sk_data') <> 10 THEN "
    "ALTER TABLE {s}.fato_movimentacao_cartao ALTER COLUMN sk_data SET STATISTICS 10; "
    "END IF; END $$",
]
# Each upsert's key: the column(s) an UPDATE matches on.
KEYS = {
    "trusted_movimento": ("id",),
    "trusted_associado": ("id", "atualizado_em"),
    "raw_associado": ("id",),  # raw: not unique (sync compares every column)
    "raw_conta": ("id",),
    "raw_cartao": ("id",),
    "trusted_conta": ("id",),
    "trusted_cartao": ("id",),
    "dim_associado": ("sk_associado",),
    "dim_conta": ("sk_conta",),
    "dim_cartao": ("sk_cartao",),
    "fato_movimentacao_cartao": ("id_movimento",),
    "dim_data": ("sk_data",),
}

# the unknown member (key -1) of each dimension, added when missing
UNKNOWN_MEMBERS = [
    "INSERT INTO {s}.dim_associado (sk_associado, id_associado, nome, valid_from, valid_to, "
    "atual) VALUES (%(k)s, %(k)s, 'Desconhecido', %(from)s, %(end)s, true) "
    "ON CONFLICT DO NOTHING",
    "INSERT INTO {s}.dim_conta (sk_conta, id_conta, tipo) VALUES (%(k)s, %(k)s, 'Desconhecido') "
    "ON CONFLICT DO NOTHING",
    "INSERT INTO {s}.dim_cartao (sk_cartao, id_cartao, nom_impresso) "
    "VALUES (%(k)s, %(k)s, 'DESCONHECIDO') ON CONFLICT DO NOTHING",
]
