"""The bill's txt in the seed's layout and its CSV, from billing-table rows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from esteira.billing.render import render_bill_csv, render_bill_txt


def _row(**changes) -> dict:
    row = {
        "billing_date": date(2020, 2, 3),
        "customer_id": 7494212,
        "customer_name": "Acme",
        "channel": "Whatsapp",
        "line_type": "usage",
        "adjusted_date": None,
        "notifications": 25000,
        "price_mode": "flat",
        "unit_price": Decimal("0.040000"),
        "amount_centavos": 100000,
        "status": "final",
        "reason": None,
        "content_hash": "ab" * 32,
    }
    return {**row, **changes}


def test_txt_is_the_seeds_layout() -> None:
    assert render_bill_txt([_row()]) == (
        "Relatório de Cobrança\nCliente: Acme\nNotificações Whatsapp: 25000\n"
        "Valor: R$ 1.000,00\nData: 2020-02-03\nSituação: final\n"
    )


def test_an_adjustment_shows_with_its_reason_and_counts_in_the_total() -> None:
    adjustment = _row(
        line_type="adjustment",
        adjusted_date=date(2020, 2, 1),
        notifications=12,
        amount_centavos=48,
        status="draft",
        reason="late messages",
        content_hash=None,
    )
    text = render_bill_txt([adjustment, _row(status="draft", content_hash=None)])
    assert text.splitlines() == [
        "Relatório de Cobrança",
        "Cliente: Acme",
        "Notificações Whatsapp: 25000",
        "Ajuste 2020-02-01 Whatsapp: +12 notificações, R$ 0,48 (late messages)",
        "Valor: R$ 1.000,48",
        "Data: 2020-02-03",
        "Situação: rascunho",
    ]


def test_csv_has_one_row_per_line_with_iso_dates_and_dot_decimals() -> None:
    lines = render_bill_csv([_row()]).splitlines()
    assert lines[0].startswith("billing_date,customer_id,customer_name,channel,line_type")
    assert lines[1] == (
        "2020-02-03,7494212,Acme,Whatsapp,usage,,25000,flat,0.04,1000.00,final,," + "ab" * 32
    )


def test_money_is_babels_pt_br_pattern_with_a_plain_space() -> None:
    from decimal import Decimal as D

    from esteira.billing.render import money
    from esteira.formats import money_br

    for centavos in (0, 4, 100, 100_000, 123_456_789, -48, -100_000):
        assert money(centavos) == money_br(D(centavos) / 100).replace("\xa0", " ")
