"""Synthetic e-commerce orders in the seed's columns (issue 16, item 1).

Realistic where the reports look: cities are real places inside their own UF, drawn by
population (GeoNames via `esteira.brazil`, no hand-typed list); each product has a
category and a price in that category's range; customers repeat (a few buy often);
orders follow the week (fewer on Sundays) and the day (evening peak, quiet nights);
valor_total = qtde x preco_unitario. With `updates`, an order's later status changes are
extra rows of the same pedido_id with `atualizado_em` (Pendente -> Pago -> sometimes
Reembolsado; or Pendente -> Cancelado), and about 5% of the orders with changes have two
of their rows swapped in the file (out of order). Plain Python with one seeded
random.Random: the same arguments write the same file.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from esteira.brazil import cities
from esteira.datagen.cli import app
from esteira.orders.schemas import COLUMNS, EVENT_TIME

CATEGORIES = {  # category -> (lowest, highest) unit price in R$
    "Eletrônicos": (120, 4500), "Informática": (60, 7000), "Moda": (30, 450),
    "Casa e Cozinha": (20, 1300), "Beleza": (15, 320), "Esporte": (40, 1600),
    "Livros": (20, 160), "Brinquedos": (25, 650), "Alimentos": (8, 140), "Pet": (10, 420),
}
CHANNELS = {"Site": 45, "App": 30, "Marketplace": 20, "Loja": 5}
WEEKDAY_WEIGHTS = (1.05, 1.0, 1.0, 1.05, 1.1, 0.85, 0.7)  # Monday .. Sunday
HOUR_WEIGHTS = (3, 2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 11, 10, 9, 9, 9, 10, 12, 14, 15, 14, 10, 6)
QUANTITIES = {1: 70, 2: 18, 3: 7, 4: 3, 5: 2}
PRODUCTS = 500
OUT_OF_ORDER_SHARE = 0.05


def order_events(rows: int, seed: int = 42, updates: bool = False,
                 start: datetime = datetime(2024, 1, 1), days: int = 366) -> Iterator[dict]:
    """`rows` orders; with `updates`, their status changes too, in file order."""
    rnd = random.Random(seed)
    places = cities()
    place_cum = list(itertools.accumulate(c.population for c in places))
    products = _products(rnd)
    product_cum = list(itertools.accumulate(1 / (i + 1) ** 0.9 for i in range(PRODUCTS)))
    customers = max(1, rows // 3)
    customer_cum = list(itertools.accumulate(1 / (i + 1) ** 0.7 for i in range(customers)))
    day_list = [start + timedelta(days=d) for d in range(days)]
    day_cum = list(itertools.accumulate(WEEKDAY_WEIGHTS[d.weekday()] for d in day_list))
    hour_cum = list(itertools.accumulate(HOUR_WEIGHTS))
    channels, channel_cum = list(CHANNELS), list(itertools.accumulate(CHANNELS.values()))
    qty, qty_cum = list(QUANTITIES), list(itertools.accumulate(QUANTITIES.values()))
    events: list[tuple[datetime, int, dict]] = []
    for i in range(rows):
        day = rnd.choices(day_list, cum_weights=day_cum)[0]
        hour = rnd.choices(range(24), cum_weights=hour_cum)[0]
        when = day + timedelta(hours=hour, minutes=rnd.randrange(60), seconds=rnd.randrange(60))
        place = places[bisect.bisect(place_cum, rnd.random() * place_cum[-1])]
        product_id, category, price = products[
            bisect.bisect(product_cum, rnd.random() * product_cum[-1])]
        n = rnd.choices(qty, cum_weights=qty_cum)[0]
        customer = bisect.bisect(customer_cum, rnd.random() * customer_cum[-1])
        order = {
            "pedido_id": str(100_000 + i), "data_pedido": _iso(when),
            "cliente_id": f"C{customer + 1:07d}", "produto_id": product_id,
            "categoria": category, "qtde": str(n), "preco_unitario": f"{price:.2f}",
            "valor_total": f"{n * price:.2f}", "uf": place.uf, "cidade": place.name,
            "canal_venda": rnd.choices(channels, cum_weights=channel_cum)[0],
        }
        for at, status in _history(rnd, when, updates):
            events.append((at, i, {**order, "status_pedido": status,
                                   **({EVENT_TIME: _iso(at)} if updates else {})}))
    events.sort(key=lambda e: (e[0], e[1]))
    if updates:
        _swap_some(rnd, events)
    for _, _, row in events:
        yield row


def _products(rnd: random.Random) -> list[tuple[str, str, float]]:
    names = list(CATEGORIES)
    found = []
    for p in range(PRODUCTS):
        category = names[p % len(names)]
        low, high = CATEGORIES[category]
        price = round(low * (high / low) ** rnd.random()) - 0.10
        found.append((f"P{p + 1:05d}", category, max(price, 0.9)))
    rnd.shuffle(found)  # popularity (list order) unrelated to category
    return found


def _history(rnd: random.Random, when: datetime, updates: bool) -> list[tuple[datetime, str]]:
    """An order's statuses with their times; without updates only the last one, at the
    order's time (the seed's one-row-per-order file)."""
    draw = rnd.random()
    paid = when + timedelta(minutes=rnd.randrange(1, 180))
    if draw < 0.08:
        steps = [(when, "Pendente")]
    elif draw < 0.18:
        steps = [(when, "Pendente"), (when + timedelta(hours=rnd.randrange(1, 72)), "Cancelado")]
    elif draw < 0.25:
        steps = [(when, "Pendente"), (paid, "Pago"),
                 (paid + timedelta(days=rnd.randrange(1, 30)), "Reembolsado")]
    else:
        steps = [(when, "Pendente"), (paid, "Pago")]
    return steps if updates else [(when, steps[-1][1])]


def _swap_some(rnd: random.Random, events: list) -> None:
    """Moves a later event of ~5% of the changing orders just before an earlier one."""
    position: dict[int, list[int]] = {}
    for index, (_, order, _) in enumerate(events):
        position.setdefault(order, []).append(index)
    for indexes in position.values():
        if len(indexes) > 1 and rnd.random() < OUT_OF_ORDER_SHARE:
            a, b = indexes[-2], indexes[-1]
            events[a], events[b] = events[b], events[a]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def write_orders(path: Path, rows: int, seed: int = 42, updates: bool = False) -> int:
    """Writes the CSV (naive times: the shop's local time) and returns its data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = [*COLUMNS, *([EVENT_TIME] if updates else [])]
    tmp = path.with_name(f".{path.name}.tmp")
    written = 0
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for row in order_events(rows, seed, updates):
            writer.writerow(row)
            written += 1
    tmp.replace(path)
    return written


@app.command("orders")
def orders(
    out: Annotated[Path, typer.Option(help="CSV file to write")],
    rows: Annotated[int, typer.Option(help="orders (distinct pedido_id)")] = 50_000,
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
    updates: Annotated[bool, typer.Option(help="also later status changes as extra rows")]
    = False,
) -> None:
    """E-commerce orders in the seed's columns (cities weighted by population)."""
    from esteira.formats import integer_br
    from esteira.logs import output, step

    if rows < 1:
        from esteira.errors import ConfigError

        raise ConfigError("--rows must be at least 1")
    with step(f"Writing {rows:,} orders to {out}"):
        written = write_orders(out, rows, seed, updates)
    output.print(f"{integer_br(rows)} pedidos, {integer_br(written)} linhas em {out}")
