"""Config: partial rule maps keep the other defaults; header aliases match loosely."""

from __future__ import annotations

import pytest

from esteira.errors import ConfigError
from esteira.orders.config import COLUMNS
from esteira.orders.transforms import header_mapping
from esteira.settings import load_settings


def test_a_partial_rule_map_changes_only_those_rules():
    rules = load_settings(orders={"rules": {"canal_conhecido": "drop"}}).orders.rules
    assert rules["canal_conhecido"] == "drop"
    assert rules["cidade_conhecida_na_uf"] == "warn" and rules["qtde_positiva"] == "drop"
    with pytest.raises(ConfigError, match="unknown rule"):
        load_settings(orders={"rules": {"nao_existe": "drop"}})


def test_headers_match_any_case_accents_and_aliases():
    found = ["ORDER-ID", "Data", "Preço", "Quantidade", "Valor Total", "Situação", "extra"]
    assert header_mapping(found, COLUMNS) == {
        "ORDER-ID": "pedido_id", "Data": "data_pedido", "Preço": "preco_unitario",
        "Quantidade": "qtde", "Valor Total": "valor_total", "Situação": "status_pedido"}
