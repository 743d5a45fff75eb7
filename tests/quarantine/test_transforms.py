"""Quarantine rules on tiny inline frames (both engines)."""

from __future__ import annotations

from datetime import date

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from esteira.quality import flag_failures, measure, passed_rows
from esteira.quarantine import transforms
from esteira.quarantine.config import QuarantineSettings

D = date(2024, 5, 28)
COMMON = (
    "id_cliente string, canal string, email string, telefone string, assunto string, "
    "data_envio date, data_exclus date, dias int"
)
OUT = (
    "id_cliente string, canal string, email string, telefone string, assunto string, "
    "data_envio date, qtd_dias int, saida_prevista date, data_carga date"
)


def contact(id_, canal, sent, dias, exclus=None, assunto="a"):
    return (id_, canal, "x@exemplo.com", "11988887777", assunto, sent, exclus, dias)


def quarantined(id_, canal, sent, qtd_dias, saida):
    """A row of the quarantine table as `contact` rows come out of it on day D."""
    return (id_, canal, "x@exemplo.com", "11988887777", "a", sent, qtd_dias, saida, D)


def test_window_is_data_envio_to_day_before_saida_prevista(spark):
    rows = [
        contact("hoje", "Ofertas", date(2024, 5, 28), 5),  # sent today: in, 0 days
        contact("ultimo", "Ofertas", date(2024, 5, 24), 5),  # saida 29/05: last day in
        contact("saiu", "Ofertas", date(2024, 5, 23), 5),  # saida 28/05 = D: free
        contact("crm", "CRM", date(2024, 4, 29), 30),  # saida 29/05: in, 29 days
    ]
    got = transforms.build_quarantine(spark.createDataFrame(rows, COMMON), D)
    expected = [
        quarantined("hoje", "Ofertas", date(2024, 5, 28), 0, date(2024, 6, 2)),
        quarantined("ultimo", "Ofertas", date(2024, 5, 24), 4, date(2024, 5, 29)),
        quarantined("crm", "CRM", date(2024, 4, 29), 29, date(2024, 5, 29)),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(expected, OUT))


def test_fraude_stays_until_removed_at_the_source(spark):
    rows = [
        contact("ativa", "Fraude", date(2023, 1, 1), None),
        contact("removida_hoje", "Fraude", date(2024, 4, 1), None, exclus=D),
        contact("removida_depois", "Fraude", date(2024, 4, 1), None, exclus=date(2024, 6, 1)),
        contact("removida_antes", "Fraude", date(2024, 4, 1), None, exclus=date(2024, 5, 1)),
    ]
    got = transforms.build_quarantine(spark.createDataFrame(rows, COMMON), D)
    assert sorted((r.id_cliente, r.qtd_dias, r.saida_prevista) for r in got.collect()) == [
        ("ativa", None, None),
        ("removida_depois", None, None),
    ]


def test_latest_send_per_client_and_channel_wins(spark):
    rows = [
        contact("1", "Marketing", date(2024, 5, 22), 7, assunto="antigo"),
        contact("1", "Marketing", date(2024, 5, 26), 7, assunto="novo"),
        contact("1", "CRM", date(2024, 5, 1), 30, assunto="crm"),
        contact("2", "Marketing", date(2024, 5, 26), 7, assunto=None),  # a tie: not null wins
        contact("2", "Marketing", date(2024, 5, 26), 7, assunto="b"),
        contact("3", "Marketing", date(2024, 5, 26), 7, assunto=None),
    ]
    got = transforms.build_quarantine(spark.createDataFrame(rows, COMMON), D)
    assert sorted(
        (r.id_cliente, r.canal, r.assunto, r.qtd_dias, r.email) for r in got.collect()
    ) == [
        ("1", "CRM", "crm", 27, "x@exemplo.com"),
        ("1", "Marketing", "novo", 2, "x@exemplo.com"),
        ("2", "Marketing", "b", 2, "x@exemplo.com"),
        ("3", "Marketing", None, 2, "x@exemplo.com"),
    ]
    counts = {r.canal: (r._rows, r._rejected) for r in transforms.key_counts(got).collect()}
    assert counts == {"CRM": (1, 0), "Marketing": (3, 0)}


def test_duplicate_keys_are_counted_as_the_key_rule_says(spark):
    rows = [("1", "CRM", None, None, None, D, 0, D, D)] * 3 + [
        ("2", "CRM", None, None, None, D, 0, D, D),
        ("1", "Fraude", None, None, None, D, None, None, D),
    ]
    table = spark.createDataFrame(rows, OUT)
    counts = transforms.key_counts(table).collect()
    assert sorted((r.canal, r._rows, r._rejected, r._rule_0) for r in counts) == [
        ("CRM", 4, 2, 2),
        ("Fraude", 1, 0, 0),
    ]
    # the same count as the rule's own condition, evaluated row by row
    rule = transforms.KEY_RULE
    assert rule.action == "fail"
    report = measure(flag_failures(table, [rule]), [rule], by="canal")
    assert report.failures == {"chave_unica": 2}
    assert {c: g.failures["chave_unica"] for c, g in report.groups.items()} == {
        "CRM": 2,
        "Fraude": 0,
    }


def test_quality_rules_name_each_reject(spark):
    rows = [
        (None, "CRM", "ok@exemplo.com", "11988887777", "a", date(2024, 5, 1), None, 30),
        ("2", "CRM", "ok@exemplo.com", "11988887777", "a", None, None, 30),
        ("3", "CRM", "ok@exemplo.com", "11988887777", "a", date(2024, 5, 29), None, 30),
        ("4", "CRM", "sem-arroba.com", "123", "a", date(2024, 5, 1), None, 30),
    ]
    checks = transforms.rules(D)
    flagged = flag_failures(transforms.with_checks(spark.createDataFrame(rows, COMMON)), checks)
    rejects = transforms.rejects(flagged, checks, D)
    assert sorted((r.id_cliente or "-", r.regra) for r in rejects.collect()) == [
        ("-", "id_cliente_nulo"),
        ("2", "data_envio_nula"),
        ("3", "data_envio_futura"),
    ]
    assert [r.id_cliente for r in passed_rows(flagged, checks).collect()] == ["4"]
    crm = measure(flagged, checks, by="canal").groups["CRM"]
    assert (crm.rows, crm.rejected) == (4, 3)
    assert crm.failures["email_invalido"] == 1
    assert crm.failures["telefone_invalido"] == 1


def test_standardize_maps_columns_types_and_dates(spark):
    source = QuarantineSettings().sources["restritos"]
    raw = spark.createDataFrame(
        [(4888888800.0, ("r@exemplo.com", 944444443, "01/03/2024"), ("Reclamação",))],
        "id_cliente double, contatos struct<email:string, numero_telefone:bigint, "
        "data_solicitacao:string>, motivos struct<descricao:string>",
    )
    got = transforms.standardize(raw, source)
    assert got.collect()[0].asDict() == {
        "id_cliente": "4888888800",
        "canal": "Restritos",
        "email": "r@exemplo.com",
        "telefone": "944444443",
        "assunto": "Reclamação",
        "data_envio": date(2024, 3, 1),
        "data_exclus": None,
        "dias": 90,
    }


def test_as_date_reads_iso_brazilian_and_timestamps(spark):
    df = spark.createDataFrame(
        [
            ("2024-05-08",),
            ("08/05/2024",),
            ("2024-05-08 10:11:12",),
            ("2024-05-08T10:00:00Z",),
            ("amanhã",),
            ("31/02/2024",),
            (None,),
        ],
        "d string",
    )
    got = [r.x for r in df.select(transforms.as_date(F.col("d"), None).alias("x")).collect()]
    may8 = date(2024, 5, 8)
    assert got == [may8, may8, may8, may8, None, None, None]


def test_suppression_policy_same_channel_plus_fraude_and_restritos_everywhere(spark):
    q = spark.createDataFrame(
        [
            ("mkt", "Marketing", None, None, "boas vindas", D, 1, date(2024, 6, 3), D),
            ("crm", "CRM", None, None, "campanha", D, 1, date(2024, 6, 20), D),
            ("fra", "Fraude", None, None, "Suspeita de fraude", D, None, None, D),
            ("res", "Restritos", None, None, "Reclamação", D, 1, date(2024, 8, 1), D),
            ("res", "Marketing", None, None, "oferta", D, 1, date(2024, 6, 1), D),
        ],
        OUT,
    )
    audience = spark.createDataFrame(
        [("mkt", "A"), ("crm", "B"), ("fra", "C"), ("res", "D"), ("livre", "E")],
        "id_cliente string, nome string",
    )
    reasons = transforms.suppression_reasons(q, "Marketing", ["Fraude", "Restritos"])
    allowed, suppressed = transforms.split_audience(audience, reasons)
    assert sorted(r.id_cliente for r in allowed.collect()) == ["crm", "livre"]
    got = {r.id_cliente: (r.nome, r.motivo, r.saida_prevista) for r in suppressed.collect()}
    assert got == {
        "mkt": ("A", "Marketing: boas vindas", date(2024, 6, 3)),
        "fra": ("C", "Fraude: Suspeita de fraude", None),
        "res": ("D", "Marketing: oferta; Restritos: Reclamação", date(2024, 8, 1)),
    }


def test_load_date_defaults_to_today_in_sao_paulo(monkeypatch):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from esteira.quarantine import job
    from esteira.settings import load_settings

    # 01:30 UTC is still the previous day in São Paulo (UTC-3)
    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2024, 5, 29, 1, 30, tzinfo=ZoneInfo("UTC")).astimezone(tz)

    monkeypatch.setattr(job, "datetime", Clock)
    assert job.today(load_settings()) == date(2024, 5, 28)
