"""The seed's final table, rebuilt from six real source files (issue 4's worked example)."""

from __future__ import annotations

from datetime import date

from pyspark.testing import assertDataFrameEqual

from esteira.quarantine import io, job
from esteira.quarantine.schemas import OUTPUT_COLUMNS

from .conftest import LOAD

D = date.fromisoformat

# Restritos: 2024-03-01 + 90 days is 2024-05-30 (the seed's table says 2024-05-29).
EXPECTED = [
    (
        "1234567890",
        "CRM",
        "cliente@exemplo.com",
        "999999999",
        "Campanha",
        D("2024-05-08"),
        20,
        D("2024-06-07"),
        LOAD,
    ),
    (
        "2345678901",
        "Marketing",
        "marketing@exemplo.com",
        "988888888",
        "Email boas vindas",
        D("2024-05-24"),
        4,
        D("2024-05-31"),
        LOAD,
    ),
    (
        "3456789012",
        "Recomendacao",
        "recomendacao@exemplo.com",
        "977777777",
        "Novo Produto",
        D("2024-05-18"),
        10,
        D("2024-06-02"),
        LOAD,
    ),
    (
        "1001001001",
        "Ofertas",
        "ofertas@exemplo.com",
        "955555557",
        "Promoção",
        D("2024-05-26"),
        2,
        D("2024-05-31"),
        LOAD,
    ),
    (
        "4567890123",
        "Fraude",
        "fraude@exemplo.com",
        "966666666",
        "Suspeita de fraude",
        D("2024-04-01"),
        None,
        None,
        LOAD,
    ),
    (
        "4888888800",
        "Restritos",
        "restritos@exemplo.com",
        "944444443",
        "Reclamação",
        D("2024-03-01"),
        88,
        D("2024-05-30"),
        LOAD,
    ),
]
SCHEMA = (
    "id_cliente string, canal string, email string, telefone string, assunto string, "
    "data_envio date, qtd_dias int, saida_prevista date, data_carga date"
)


def test_seed_table_from_six_real_files(spark, qsettings, write_sources):
    write_sources(qsettings.quarantine.sources_dir)

    result = job.run(qsettings, spark, job.BuildRequest(LOAD))

    table = io.read_quarantine(spark, qsettings.quarantine.table)
    assert table.columns == OUTPUT_COLUMNS
    assertDataFrameEqual(table, spark.createDataFrame(EXPECTED, SCHEMA))
    assert {c.canal: (c.lidos, c.rejeitados, c.em_quarentena) for c in result.channels} == {
        canal: (1, 0, 1)
        for canal in ("CRM", "Marketing", "Recomendacao", "Restritos", "Ofertas", "Fraude")
    }
    # the Delta table is partitioned by data_carga, then canal
    parts = sorted(p.name for p in (qsettings.quarantine.table / "data_carga=2024-05-28").iterdir())
    assert parts == [
        f"canal={c}"
        for c in sorted(["CRM", "Marketing", "Recomendacao", "Restritos", "Ofertas", "Fraude"])
    ]
