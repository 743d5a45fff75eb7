"""Synthetic chatbot events in the lake's layout: <date>/hour=HH.json, one file per hour.

`sessions` sessions of about events/sessions answers each, spread over the 24 hours of
the day (a session may cross an hour); five flows with different answer keys; ~8% blank
answers, ~0.05% events without a session and, in JSON-lines files, ~0.05% cut lines.
Half the timestamps are written in São Paulo time (-03:00), half in UTC. The engine
builds the rows; Python only joins each hour's part files into hour=HH.json.
"""

from __future__ import annotations

import shutil
from datetime import date as Date
from pathlib import Path
from typing import Annotated

import typer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from esteira.datagen.cli import app
from esteira.datagen.draws import uniform

FLOW_KEYS = [
    ["name", "cpf", "delivery_confirmed"],
    ["recomenda", "nota"],
    ["email", "phone", "plano"],
    ["endereco", "cep", "numero", "complemento"],
    ["motivo", "nota_atendimento"],
]


def generate_events(
    session: SparkSession, events: int, sessions: int, seed: int, day: str
) -> DataFrame:
    """(hour, line, broken): one JSON event per row, `hour` its UTC hour."""
    sid = F.col("sid")
    step = (F.col("id") / sessions).cast("long")  # the n-th answer of its session
    flow = sid % len(FLOW_KEYS)
    flows = F.array(*[F.array(*map(F.lit, ks)) for ks in FLOW_KEYS])
    keys = F.element_at(flows, (flow + 1).cast("int"))  # the JVM wants an INT index
    size = F.size(keys)
    start = (uniform(seed, 0, row_id="sid") * (86_400 - 900)).cast("long")  # per session
    epoch = F.unix_timestamp(F.lit(f"{day} 00:00:00")) + start + step * 25 + F.col("id") % 7
    ts = F.timestamp_seconds(epoch)
    local = F.date_format(ts - F.expr("INTERVAL 3 HOURS"), "yyyy-MM-dd'T'HH:mm:ss")
    written = F.when(F.col("id") % 2 == 0, F.concat(local, F.lit("-03:00"))).otherwise(
        F.concat(F.date_format(ts, "yyyy-MM-dd'T'HH:mm:ss"), F.lit("+00:00"))
    )

    def answer(offset: int, salt: int):
        value = F.format_string("v%d", F.col("id") + offset)
        return F.when(uniform(seed, salt) < 0.08, F.lit("")).otherwise(value)

    content = F.map_from_arrays(
        F.array(
            F.element_at(keys, (step % size + 1).cast("int")),
            F.element_at(keys, ((step + 1) % size + 1).cast("int")),
        ),
        F.array(answer(0, 1), answer(1, 2)),
    )
    event = F.struct(
        F.format_string("C%06d", sid % 50_000).alias("customer"),
        F.format_string("F%d", flow + 1000).alias("flow"),
        F.when(F.col("id") % 1999 != 7, F.format_string("S%07d", sid)).alias("session"),
        written.alias("timestamp"),
        content.alias("content"),
    )
    rows = session.range(events).withColumn("sid", F.col("id") % sessions)
    return rows.select(
        F.hour(ts).alias("hour"),
        F.to_json(event).alias("line"),
        (F.col("id") % 1997 == 13).alias("broken"),
    )


def write_hours(df: DataFrame, out: Path, layout: str) -> list[Path]:
    """Joins the engine's part files of each hour into out/hour=HH.json."""
    parts_dir = out.parent / f".{out.name}.parts"
    shutil.rmtree(parts_dir, ignore_errors=True)
    df.write.partitionBy("hour").text(str(parts_dir))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for folder in sorted(parts_dir.glob("hour=*")):
        hour = int(folder.name.split("=", 1)[1])
        as_array = layout == "array" or (layout == "mixed" and hour % 2 == 0)
        target = out / f"hour={hour:02d}.json"
        parts = sorted(p for p in folder.iterdir() if not p.name.startswith((".", "_")))
        with target.open("w", encoding="utf-8") as dst:
            _join(parts, dst, as_array)
        written.append(target)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return written


def _join(parts: list[Path], dst, as_array: bool) -> None:
    if not as_array:
        for part in parts:
            with part.open(encoding="utf-8") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
        return
    dst.write("[\n")
    first = True
    for part in parts:
        with part.open(encoding="utf-8") as src:
            for line in src:
                dst.write(("" if first else ",\n") + line.rstrip("\n"))
                first = False
    dst.write("\n]\n")


@app.command("chatbot")
def chatbot(
    out: Annotated[Path, typer.Option(help="lake folder; files go to OUT/<date>/hour=HH.json")],
    events: Annotated[int, typer.Option(help="events in all")] = 100_000,
    sessions: Annotated[int, typer.Option(help="distinct sessions")] = 10_000,
    layout: Annotated[
        str, typer.Option(help="lines, array, or mixed (even hours arrays)")
    ] = "mixed",
    day: Annotated[str, typer.Option("--date", help="the day, YYYY-MM-DD")] = "2019-12-16",
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
) -> None:
    """Hourly chatbot event files in the seed's shape."""
    from esteira.cli_common import session
    from esteira.errors import ConfigError
    from esteira.logs import step

    if layout not in ("lines", "array", "mixed"):
        raise ConfigError(f"--layout must be lines, array or mixed, not {layout!r}")
    Date.fromisoformat(day)
    df = generate_events(session(), events, max(1, sessions), seed, day)
    # A cut line is invalid JSON: only JSON-lines hours get one (an array would be lost whole).
    as_lines_only = F.col("broken") & (
        F.lit(layout == "lines") | (F.lit(layout == "mixed") & (F.col("hour") % 2 == 1))
    )
    df = df.select(
        "hour", F.when(as_lines_only, F.substring("line", 1, 40)).otherwise(F.col("line"))
    )
    with step(f"Writing {events:,} chatbot events to {out / day}"):
        files = write_hours(df, out / day, layout)
    typer.echo(f"{len(files)} hourly files in {out / day}")
