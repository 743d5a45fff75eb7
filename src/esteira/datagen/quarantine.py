"""Synthetic sources for the contact quarantine, in their real formats.

CRM as xlsx (numeric ids, real Excel dates, 10% of rows from yesterday's snapshot),
Marketing as a `;` csv, Recomendacao as parquet, Restritos as nested json, Ofertas and
Fraude as Delta. Dirt everywhere: repeated sends to one client, ~0.5% null ids, ~0.5%
dates after the load date, ~0.3% blank Marketing dates, ~2% malformed e-mails and
phones. Clients come from one pool, so many are in quarantine on several channels.
The engine writes everything but the xlsx (XlsxWriter, constant-memory mode).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import numpy as np
import typer
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.connectors.files import write_single_file
from esteira.datagen.cli import app
from esteira.datagen.draws import uniform

XLSX_MAX_ROWS = 500_000
SHARES = {
    "crm": 0.05,
    "marketing": 0.30,
    "recomendacao": 0.25,
    "restritos": 0.10,
    "ofertas": 0.20,
    "fraude": 0.10,
}
SUBJECTS = {
    "crm": ["Campanha", "Aniversário", "Pesquisa de satisfação"],
    "marketing": ["Email boas vindas", "Newsletter", "Black Friday"],
    "recomendacao": ["Novo Produto", "Upgrade de plano", "Seguro"],
    "restritos": ["Reclamação", "Pedido de não contato", "Procon"],
    "ofertas": ["Promoção", "Cashback", "Desconto"],
}


def split_rows(rows: int) -> dict[str, int]:
    """Rows per source; the xlsx gets at most 500,000 and Marketing takes the rest."""
    counts = {k: int(rows * share) for k, share in SHARES.items()}
    counts["crm"] = min(counts["crm"], XLSX_MAX_ROWS)
    counts["marketing"] += rows - sum(counts.values())
    return counts


class _Gen:
    """Column recipes over session.range: seeded, so a run is reproducible."""

    def __init__(self, load_date: date, pool: int, seed: int) -> None:
        self.day = load_date
        self.pool = pool
        self.seed = seed

    def rand(self, k: int) -> Column:
        """Uniform in [0, 1), one independent draw per `k` (esteira.datagen.draws)."""
        return uniform(self.seed, k)

    def client(self, k: int) -> Column:
        ident = (F.lit(1_000_000_000) + (self.rand(k) * self.pool).cast("long")).cast("string")
        return F.when(self.rand(k + 1) >= 0.005, ident)

    def email(self, k: int, ident: Column) -> Column:
        good = F.concat(F.lit("cliente"), ident, F.lit("@exemplo.com.br"))
        return F.when(
            self.rand(k) < 0.02, F.concat(F.lit("cliente"), ident, F.lit("exemplo.com"))
        ).otherwise(good)

    def phone(self, k: int) -> Column:
        mobile = F.format_string("119%08d", (self.rand(k) * 99_999_999).cast("int"))
        return F.when(self.rand(k + 1) < 0.02, F.lit("12345")).otherwise(mobile)

    def sent(self, k: int, max_days: int) -> Column:
        back = (self.rand(k) * max_days).cast("int")
        future = F.when(self.rand(k + 1) < 0.005, -(back % 10) - 1).otherwise(back)
        return F.date_sub(F.lit(self.day), future)

    def subject(self, k: int, options: list[str]) -> Column:
        return F.element_at(
            F.array(*[F.lit(s) for s in options]), (self.rand(k) * len(options)).cast("int") + 1
        )

    def base(self, session: SparkSession, n: int, k: int, max_days: int) -> DataFrame:
        ident = F.col("id_cliente")
        return (
            session.range(n)
            .select("id", self.client(k).alias("id_cliente"))
            .select(
                "id",
                "id_cliente",
                self.email(k + 2, ident).alias("email"),
                self.phone(k + 3).alias("telefone"),
                self.sent(k + 5, max_days).alias("data_envio"),
            )
        )


def write_crm_xlsx(path: Path, n: int, load_date: date, pool: int, seed: int) -> None:
    """CRM's workbook: ids as numbers, data_envio/data_base as Excel dates."""
    import xlsxwriter

    rng = np.random.default_rng(seed)
    ids = 1_000_000_000 + rng.integers(0, pool, n)
    null_id = rng.random(n) < 0.005
    back = rng.integers(0, 60, n)
    back = np.where(rng.random(n) < 0.005, -(back % 10) - 1, back)
    serial0 = (load_date - date(1899, 12, 30)).days
    sent = serial0 - back
    base = np.where(rng.random(n) < 0.10, serial0 - 1, serial0)
    bad_mail = rng.random(n) < 0.02
    phones = rng.integers(0, 99_999_999, n)
    subjects = SUBJECTS["crm"]
    subject_idx = rng.integers(0, len(subjects), n)
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("CRM")
    day_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["id_cliente", "email", "telefone", "assunto", "data_envio", "data_base"])
    for i in range(n):
        r = i + 1
        ident = int(ids[i])
        if not null_id[i]:
            sheet.write_number(r, 0, ident)
        sheet.write_string(
            r, 1, f"cliente{ident}exemplo.com" if bad_mail[i] else f"cliente{ident}@exemplo.com.br"
        )
        sheet.write_string(r, 2, f"119{phones[i]:08d}")
        sheet.write_string(r, 3, subjects[subject_idx[i]])
        sheet.write_number(r, 4, int(sent[i]), day_fmt)
        sheet.write_number(r, 5, int(base[i]), day_fmt)
    book.close()


def generate(session: SparkSession, out: Path, rows: int, load_date: date, seed: int = 7) -> dict:
    """Writes the six sources under `out` (the default quarantine.sources_dir layout)."""
    counts = split_rows(rows)
    pool = max(10, rows // 3)
    g = _Gen(load_date, pool, seed)
    write_crm_xlsx(out / "crm" / "crm_data.xlsx", counts["crm"], load_date, pool, seed)

    marketing = g.base(session, counts["marketing"], 10, 20).select(
        "id_cliente",
        "email",
        "telefone",
        g.subject(16, SUBJECTS["marketing"]).alias("subject"),
        # ~0.3% of the export's dates are blank (null data_envio -> rejects)
        F.when(g.rand(17) >= 0.003, F.date_format("data_envio", "yyyy-MM-dd"))
        .otherwise(F.lit(""))
        .alias("data_envio"),
    )
    write_single_file(marketing, out / "marketing" / "marketing_data.csv", delimiter=";")

    recomendacao = (
        g.base(session, counts["recomendacao"], 20, 40)
        .withColumn("assunto", g.subject(26, SUBJECTS["recomendacao"]))
        .drop("id")
    )
    recomendacao.write.mode("overwrite").parquet(str(out / "recomendacao"))

    restritos = g.base(session, counts["restritos"], 30, 150).select(
        "id_cliente",
        F.struct(
            F.col("email"),
            F.col("telefone").alias("numero_telefone"),
            F.date_format("data_envio", "yyyy-MM-dd").alias("data_solicitacao"),
        ).alias("contatos"),
        F.struct(g.subject(36, SUBJECTS["restritos"]).alias("descricao")).alias("motivos"),
    )
    restritos.write.mode("overwrite").json(str(out / "restritos"))

    ofertas = (
        g.base(session, counts["ofertas"], 40, 15)
        .withColumn("assunto", g.subject(46, SUBJECTS["ofertas"]))
        .drop("id")
    )
    ofertas.write.format("delta").mode("overwrite").save(str(out / "ofertas"))

    inclus = F.col("data_envio")
    fraude = g.base(session, counts["fraude"], 50, 365).select(
        "id_cliente",
        "email",
        "telefone",
        inclus.alias("dt_inclus"),
        F.when(g.rand(57) < 0.3, F.date_add(inclus, (g.rand(58) * 400).cast("int"))).alias(
            "data_exclus"
        ),
    )
    fraude.write.format("delta").mode("overwrite").save(str(out / "fraude"))
    write_audience(out / "campanha.csv", min(1000, pool), pool, seed)
    return counts


def write_audience(path: Path, n: int, pool: int, seed: int) -> None:
    """A campaign list (id_cliente, nome) drawn from the same clients, for `filter`."""
    rng = np.random.default_rng(seed + 1)
    ids = 1_000_000_000 + rng.choice(pool, size=n, replace=False)
    lines = ["id_cliente,nome"] + [f"{i},Cliente {i - 1_000_000_000}" for i in ids]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@app.command("quarantine")
def quarantine(
    out: Annotated[Path, typer.Option(help="folder for the six sources")],
    rows: Annotated[int, typer.Option(help="source rows over the six sources")] = 100_000,
    load_date: Annotated[
        str | None, typer.Option("--date", help="load date AAAA-MM-DD (default: today)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
) -> None:
    """Write the six quarantine sources (xlsx, csv, parquet, json, Delta x2) with dirt."""
    from esteira import cli_common
    from esteira.formats import integer_br
    from esteira.logs import step

    if rows < 6:
        raise typer.BadParameter("--rows must be at least 6")
    day = _load_date(load_date, cli_common.settings().timezone)
    session = cli_common.session()
    with step(f"Generating {rows:,} quarantine source rows"):
        counts = generate(session, out, rows, day, seed)
    parts = ", ".join(f"{k} {integer_br(v)}" for k, v in counts.items())
    typer.echo(f"wrote {out} for {day.isoformat()}: {parts}")


def _load_date(value: str | None, timezone: str) -> date:
    """--date as AAAA-MM-DD, else today where the company is (the build's default too)."""
    if value is None:
        return datetime.now(ZoneInfo(timezone)).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--date {value!r} is not a date (use AAAA-MM-DD)") from None
