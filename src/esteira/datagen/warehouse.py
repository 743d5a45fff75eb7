"""SiCooperative's transactional source (associado, conta, cartao, movimento), generated
inside PostgreSQL with generate_series: millions of rows in seconds on either engine.

Draws are hashes of the row id and the seed (hashint8), so a run is reproducible.
Realistic and messy as real systems are: Brazilian names and e-mails, estado_civil and
escolaridade in mixed case with stray spaces ('Casado ', 'DIVORCIADO', '  Ensino
Superior'), ~0.1% of associados without a birth date and ~0.01% of movements without a
value (the trusted layer rejects them). `mutate` applies one day of changes.
"""

from __future__ import annotations

from typing import Annotated

import typer
from psycopg import sql

from esteira.connectors import postgres as pg
from esteira.datagen.cli import app

FIRST = ["Ana", "Maria", "João", "José", "Francisco", "Antônio", "Carlos", "Paulo", "Pedro",
         "Lucas", "Luiz", "Marcos", "Luís", "Gabriel", "Rafael", "Daniel", "Marcelo", "Bruno",
         "Eduardo", "Felipe", "Juliana", "Adriana", "Fernanda", "Patrícia", "Aline", "Camila",
         "Sandra", "Amanda", "Bruna", "Jéssica", "Letícia", "Júlia", "Luciana", "Vanessa",
         "Mariana", "Gabriela", "Beatriz", "Larissa", "Rodrigo", "Thiago", "Vitória", "Helena"]
LAST = ["Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
        "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes",
        "Soares", "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade",
        "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas", "Cardoso", "Ramos",
        "Gonçalves", "Santana", "Teixeira", "Araújo", "Schmidt", "Müller", "Zimmermann"]
DOMAINS = ["gmail.com", "hotmail.com", "yahoo.com.br", "outlook.com", "uol.com.br",
           "bol.com.br", "terra.com.br"]
ESTADO_CIVIL = ["Solteiro", "Casado", "Divorciado", "Viúvo", "União Estável"]
ESCOLARIDADE = ["Ensino Fundamental", "Ensino Médio", "Ensino Superior", "Pós-graduação",
                "Mestrado", "Doutorado"]
DESCRICOES = ["Supermercado", "Posto de combustível", "Farmácia", "Restaurante", "Padaria",
              "Loja de roupas", "Assinatura streaming", "Aplicativo de transporte",
              "Material de construção", "Pet shop", "Cinema", "Livraria", "Academia",
              "Companhia aérea", "Hotel", "Conta de luz", "Mercado online"]
START = "2023-07-01"  # first day of generated movements
DAYS = 365
_ACCENTS = ("áàâãäéèêëíìîïóòôõöúùûüçñÁÀÂÃÄÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑ",
            "aaaaaeeeeiiiiooooouuuucnAAAAAEEEEIIIIOOOOOUUUUCN")
TIMEZONE = "America/Sao_Paulo"

DDL = """
CREATE TABLE {s}.associado (id bigint, nome varchar(100), sobrenome varchar(100),
  data_nascimento date, email varchar(200), estado_civil varchar(30),
  escolaridade varchar(50), atualizado_em timestamptz);
CREATE TABLE {s}.conta (id bigint PRIMARY KEY, tipo varchar(30), data_criacao timestamp,
  id_associado bigint);
CREATE TABLE {s}.cartao (id bigint PRIMARY KEY, num_cartao varchar(20),
  nom_impresso varchar(100), data_criacao timestamp, id_conta bigint, id_associado bigint);
CREATE TABLE {s}.movimento (id bigint PRIMARY KEY, vlr_transacao numeric(10,2),
  des_transacao varchar(100), data_movimento timestamp, id_cartao bigint,
  atualizado_em timestamptz);
CREATE INDEX ON {s}.movimento (atualizado_em);
"""


def _pick(values: list[str], draw: str) -> str:
    """SQL picking one of `values` by a non-negative bigint draw."""
    items = ", ".join(sql.Literal(v).as_string(None) for v in values)
    return f"(ARRAY[{items}])[1 + ({draw}) % {len(values)}]"


def _h(column: str, salt: int, seed: int) -> str:
    """A non-negative bigint draw per row: a hash of its id, the salt and the seed."""
    return f"abs(hashint8({column}::bigint * 1000003 + {salt * 7919 + seed * 104729})::bigint)"


def _messy(values: list[str], draw: str, mess: str) -> str:
    """A value as real systems type it: as is, UPPER, ' lower' or 'Trailing  '."""
    base = _pick(values, draw)
    return (f"(CASE ({mess}) % 6 WHEN 0 THEN upper({base}) WHEN 1 THEN ' ' || lower({base}) "
            f"WHEN 2 THEN {base} || ' ' WHEN 3 THEN '  ' || {base} ELSE {base} END)")


def _associados(s: str, first: str, last: str, seed: int, since: str) -> str:
    nome, sobrenome = _pick(FIRST, _h("g", 1, seed)), _pick(LAST, _h("g", 2, seed))
    plain = f"lower(translate({nome} || '.' || {sobrenome}, '{_ACCENTS[0]}', '{_ACCENTS[1]}'))"
    email = f"{plain} || g || '@' || {_pick(DOMAINS, _h('g', 3, seed))}"
    birth = (f"CASE WHEN {_h('g', 4, seed)} % 1000 = 0 THEN NULL ELSE "
             f"DATE '1945-01-01' + ({_h('g', 5, seed)} % 21900)::int END")
    return (
        f"INSERT INTO {s}.associado SELECT g, {nome}, {sobrenome}, {birth}, {email}, "
        f"{_messy(ESTADO_CIVIL, _h('g', 6, seed), _h('g', 7, seed))}, "
        f"{_messy(ESCOLARIDADE, _h('g', 8, seed), _h('g', 9, seed))}, "
        f"{since} FROM generate_series({first}, {last}) g"
    )


def _contas_cartoes(s: str, first: str, last: str, seed: int, created: str) -> list[str]:
    """One Corrente account per associado (a third also get an Investimento one) and a
    card on each Corrente account."""
    tipo = f"CASE WHEN {_h('g', 10, seed)} % 50 = 0 THEN 'Poupança' ELSE 'Corrente' END"
    number = f"'5' || lpad(({_h('g', 11, seed)} % 1000000000000000)::text, 15, '0')"
    return [
        f"INSERT INTO {s}.conta SELECT g, {tipo}, {created}, g FROM generate_series({first}, "
        f"{last}) g",
        f"INSERT INTO {s}.conta SELECT g + 100000000, 'Investimento', {created}, g FROM "
        f"generate_series({first}, {last}) g WHERE {_h('g', 12, seed)} % 3 = 0",
        f"INSERT INTO {s}.cartao SELECT g, {number}, upper(translate(a.nome || ' ' || "
        f"a.sobrenome, '{_ACCENTS[0]}', '{_ACCENTS[1]}')), {created}, g, g FROM "
        f"generate_series({first}, {last}) g JOIN {s}.associado a ON a.id = g",
    ]


def _movimentos(s: str, first: str, last: str, cards: str, seed: int, when: str) -> str:
    """Movements on random cards (numbered 1..cards, as an associado's id); `when` is
    the local timestamp (without zone)."""
    value = (f"CASE WHEN {_h('g', 20, seed)} % 10000 = 0 THEN NULL ELSE "
             f"round((1 + ({_h('g', 21, seed)} % 400000) / 100.0)::numeric, 2) END")
    return (
        f"INSERT INTO {s}.movimento SELECT g, {value}, {_pick(DESCRICOES, _h('g', 23, seed))}, "
        f"{when}, 1 + {_h('g', 22, seed)} % {cards}, ({when}) AT TIME ZONE '{TIMEZONE}' "
        f"+ interval '1 minute' * ({_h('g', 24, seed)} % 30) "
        f"FROM generate_series({first}, {last}) g"
    )


def generate(dsn: str, schema: str, associados: int, movimentos: int, seed: int = 7) -> None:
    """Replaces the source tables in `schema` with freshly generated ones (one commit)."""
    s = sql.Identifier(schema).as_string(None)
    random_time = (f"TIMESTAMP '{START}' + interval '1 second' * "
                   f"({_h('g', 25, seed)} % {DAYS * 86400})")
    with pg.connect(dsn) as conn, conn.transaction():
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        for table in ("associado", "conta", "cartao", "movimento"):
            conn.execute(f"DROP TABLE IF EXISTS {s}.{table}")
        conn.execute(DDL.replace("{s}", s))
        since = (f"TIMESTAMPTZ '2023-01-01 08:00:00-03' + interval '1 minute' * "
                 f"({_h('g', 26, seed)} % 100000)")
        conn.execute(_associados(s, "1", str(associados), seed, since))
        created = "TIMESTAMP '2022-06-01 10:00:00' + interval '1 hour' * (g % 5000)"
        for statement in _contas_cartoes(s, "1", str(associados), seed, created):
            conn.execute(statement)
        conn.execute(_movimentos(s, "1", str(movimentos), str(associados), seed, random_time))


def mutate(dsn: str, schema: str, seed: int = 1) -> dict[str, int]:
    """One day of changes after the latest one in the source: new associados (0.5%),
    1% of associados with a changed estado_civil, escolaridade or e-mail, new cards,
    new movements (1%) and corrections to 5% of the last week's movements."""
    s = sql.Identifier(schema).as_string(None)
    with pg.connect(dsn) as conn, conn.transaction():
        n_assoc, top_assoc = conn.execute(
            f"SELECT count(*), max(id) FROM {s}.associado").fetchone()
        n_mov, top_mov, last = conn.execute(
            f"SELECT count(*), max(id), max(data_movimento) FROM {s}.movimento").fetchone()
        day = f"(TIMESTAMP '{last.date()}' + interval '25 hours')"  # after every old row

        def at(column: str) -> str:
            return f"({day} + interval '1 second' * ({_h(column, 30, seed)} % 79200))"

        def at_zone(column: str) -> str:
            return f"({at(column)} AT TIME ZONE '{TIMEZONE}')"

        new_assoc = max(1, n_assoc // 200)
        first, end = top_assoc + 1, top_assoc + new_assoc
        conn.execute(_associados(s, str(first), str(end), seed, at_zone("g")))
        for statement in _contas_cartoes(s, str(first), str(end), seed, at("g")):
            conn.execute(statement)
        changed = conn.execute(
            f"UPDATE {s}.associado SET "
            f"estado_civil = CASE WHEN {_h('id', 31, seed)} % 3 = 0 THEN "
            f"{_pick(ESTADO_CIVIL, _h('id', 32, seed))} ELSE estado_civil END, "
            f"escolaridade = CASE WHEN {_h('id', 31, seed)} % 3 = 1 THEN "
            f"{_pick(ESCOLARIDADE, _h('id', 33, seed))} ELSE escolaridade END, "
            f"email = CASE WHEN {_h('id', 31, seed)} % 3 = 2 THEN 'novo.' || email "
            f"ELSE email END, atualizado_em = {at_zone('id')} "
            f"WHERE id <= {top_assoc} AND {_h('id', 34, seed)} % 100 = 0").rowcount
        cards = conn.execute(f"SELECT max(id) FROM {s}.cartao").fetchone()[0]
        new_mov = max(1, n_mov // 100)
        conn.execute(_movimentos(s, str(top_mov + 1), str(top_mov + new_mov), str(cards),
                                 seed, at("g")))
        corrected = conn.execute(
            f"UPDATE {s}.movimento SET vlr_transacao = round(vlr_transacao * 0.9, 2), "
            f"atualizado_em = {at_zone('id')} WHERE data_movimento >= TIMESTAMP '{last.date()}' - "
            f"interval '7 days' AND id <= {top_mov} AND {_h('id', 35, seed)} % 20 = 0"
        ).rowcount
    return {"new_associados": new_assoc, "changed_associados": changed,
            "new_movimentos": new_mov, "corrected_movimentos": corrected}


@app.command("warehouse")
def warehouse_command(
    associados: Annotated[int, typer.Option(help="associados (each with an account and card)")]
    = 1000,
    movimentos: Annotated[int, typer.Option(help="card movements")] = 20_000,
    do_mutate: Annotated[bool, typer.Option("--mutate", help="apply one day of changes")]
    = False,
    seed: Annotated[int, typer.Option(help="seed of the draws")] = 7,
) -> None:
    """SiCooperative's source database (warehouse.source_database, .source_schema)."""
    from psycopg.conninfo import make_conninfo

    from esteira import endpoints
    from esteira.cli_common import settings
    from esteira.logs import step

    cfg = settings().warehouse
    _ensure_databases(settings(), [cfg.source_database, cfg.database])
    dsn = make_conninfo(endpoints.postgres_dsn(settings()), dbname=cfg.source_database)
    where = f"{pg.describe(dsn)} schema {cfg.source_schema}"
    if do_mutate:
        with step(f"Applying one day of changes to {where}"):
            done = mutate(dsn, cfg.source_schema, seed)
        typer.echo(", ".join(f"{k} {v}" for k, v in done.items()))
        return
    with step(f"Generating {associados} associados and {movimentos} movements in {where}"):
        generate(dsn, cfg.source_schema, associados, movimentos, seed)
    typer.echo(f"{associados} associados, {movimentos} movements -> {where}")


def _ensure_databases(settings: object, names: list[str]) -> None:
    """Creates the source and warehouse databases on the local server (the application
    role cannot); an external server must have them already."""
    from esteira.services import pg_cluster
    from esteira.services import postgres as pg_service

    cfg = settings.postgres  # type: ignore[attr-defined]
    if cfg.host:
        return
    for name in names:
        pg_cluster.ensure_app_role(
            pg_service.paths(settings)["data"], pg_service.port(settings),  # type: ignore[arg-type]
            pg_cluster.server_account(cfg.os_user).pw_name, cfg.user, name,
            pg_service.password(settings),  # type: ignore[arg-type]
        )
