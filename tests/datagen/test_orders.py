"""The orders generator: real cities in their UF by population, the seed's columns,
prices by category, totals that add up, status changes with some out of order."""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal

from esteira import cli
from esteira.brazil import cities, fold
from esteira.datagen.orders import CATEGORIES

SEED_COLUMNS = ["pedido_id", "data_pedido", "cliente_id", "produto_id", "categoria", "qtde",
                "preco_unitario", "valor_total", "uf", "cidade", "canal_venda", "status_pedido"]


def _read(path):
    with path.open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def test_orders_look_like_a_shops(tmp_path, capsys):
    path = tmp_path / "pedidos.csv"
    assert cli.main(["datagen", "orders", "--rows", "3000", "--seed", "5", "--out",
                     str(path)]) == 0
    header, rows = _read(path)
    assert header == SEED_COLUMNS and len(rows) == 3000
    assert len({r["pedido_id"] for r in rows}) == 3000
    known = {(c.uf, fold(c.name)) for c in cities()}
    assert all((r["uf"], fold(r["cidade"])) in known for r in rows)
    by_city = Counter((r["uf"], r["cidade"]) for r in rows)
    assert by_city.most_common(1)[0][0] == ("SP", "São Paulo")  # the largest city leads
    assert by_city[("SP", "São Paulo")] > 2 * by_city[("BA", "Salvador")] > 0
    for r in rows:
        assert Decimal(r["valor_total"]) == int(r["qtde"]) * Decimal(r["preco_unitario"])
        low, high = CATEGORIES[r["categoria"]]
        assert low - 1 <= Decimal(r["preco_unitario"]) <= high
    customers = Counter(r["cliente_id"] for r in rows)
    assert customers.most_common(1)[0][1] >= 5  # repeat customers
    hours = Counter(int(r["data_pedido"][11:13]) for r in rows)
    assert hours[20] > 3 * hours[4]  # evening peak, quiet night
    # the same seed writes the same file
    again = tmp_path / "again.csv"
    assert cli.main(["datagen", "orders", "--rows", "3000", "--seed", "5", "--out",
                     str(again)]) == 0
    assert again.read_bytes() == path.read_bytes()


def test_updates_are_later_rows_of_the_same_order_some_out_of_order(tmp_path):
    path = tmp_path / "pedidos.csv"
    assert cli.main(["datagen", "orders", "--rows", "2000", "--updates", "--out",
                     str(path)]) == 0
    header, rows = _read(path)
    assert header == [*SEED_COLUMNS, "atualizado_em"]
    history: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        history.setdefault(r["pedido_id"], []).append((r["atualizado_em"], r["status_pedido"]))
    assert len(history) == 2000 and len(rows) > 3000
    flows = Counter(tuple(s for _, s in sorted(h)) for h in history.values())
    assert set(flows) <= {("Pendente",), ("Pendente", "Pago"), ("Pendente", "Cancelado"),
                          ("Pendente", "Pago", "Reembolsado")}
    assert all(flows[f] > 0 for f in [("Pendente", "Pago"), ("Pendente", "Cancelado"),
                                      ("Pendente", "Pago", "Reembolsado")])
    swapped = sum(1 for h in history.values() if h != sorted(h))
    changing = sum(1 for h in history.values() if len(h) > 1)
    assert 0 < swapped < 0.15 * changing
