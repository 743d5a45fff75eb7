"""`esteira notifications report`: the seed's layout from silver, both engines.

Fixture: silver and gold written from a message list (tests/billing/stream_tables.py);
what each report must hold is written out here by hand.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from billing.stream_tables import utc, write_stream
from canaries import CPF, EMAIL, NAME, PHONE, SENTENCE
from esteira.notifications import report_io
from esteira.notifications.report import render_report
from privacy import Gatherer

ACME = 7494212
MESSAGES = [
    (
        ACME,
        "Acme",
        "Whatsapp",
        "A61D178E73",
        "Não identificamos a sua última mensagem.",
        utc("2020-02-03T14:00:01.099+00:00"),
    ),
    (
        ACME,
        "Acme",
        "Whatsapp",
        "5B81FF24A1",
        "Olá XXXXX, seja muito bem-vindo!",
        utc("2020-02-03T14:00:01.001+00:00"),
    ),
    # the same message delivered again after the stream's dedupe horizon: twice in silver
    (
        ACME,
        "Acme",
        "Whatsapp",
        "5B81FF24A1",
        "Olá XXXXX, seja muito bem-vindo!",
        utc("2020-02-03T14:00:01.001+00:00"),
    ),
    (ACME, "Acme", "Whatsapp", "LOCAL-NEXT", "amanhã", utc("2020-02-04T03:00:00+00:00")),
    (ACME, "Acme", "Whatsapp", "LOCAL-PREV", "ontem", utc("2020-02-03T02:59:59.999+00:00")),
    (1, "Beta", "Whatsapp", "B1", "oi", utc("2020-02-03T14:00:00+00:00")),
    (2, "Gama", "Whatsapp", "G1", "oi", utc("2020-02-03T14:00:00+00:00")),
    (3, "gama", "Whatsapp", "G2", "oi", utc("2020-02-03T14:00:00+00:00")),
]


@pytest.fixture
def stream(spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ESTEIRA_NOTIFICATIONS__ROOT", str(tmp_path / "n"))
    write_stream(spark, tmp_path / "n", MESSAGES)
    return tmp_path


def _error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and err.strip().endswith(lines[0]) and "Traceback" not in err, err
    return lines[0]


def test_a_local_day_in_the_seeds_layout_in_event_time_order_each_message_once(
    run_cli, stream: Path
) -> None:
    out_file = stream / "out" / "acme.txt"
    code, out, err = run_cli(
        "notifications",
        "report",
        "--customer",
        "acme",
        "--from",
        "2020-02-03",
        "--to",
        "2020-02-03",
        "--out",
        out_file,
    )
    assert code == 0, err
    assert f"customer_id {ACME}: 2 mensagens" in out
    assert out_file.read_text(encoding="utf-8") == (
        "= Cliente: Acme =\n"
        "Mensagem ID: 5B81FF24A1\nPayload: “Olá XXXXX, seja muito bem-vindo!”\n"
        "Data hora: 2020-02-03T14:00:01.001+00:00\n"
        "Mensagem ID: A61D178E73\nPayload: “Não identificamos a sua última mensagem.”\n"
        "Data hora: 2020-02-03T14:00:01.099+00:00\n"
    )
    assert [p.name for p in out_file.parent.iterdir()] == ["acme.txt"]  # no temp file left


def test_csv_and_jsonl_hold_one_row_per_message(run_cli, stream: Path) -> None:
    code, _, err = run_cli(
        "notifications",
        "report",
        "--customer",
        str(ACME),
        "--format",
        "csv",
        "--out",
        stream / "r.csv",
    )
    assert code == 0, err
    rows = list(csv.DictReader((stream / "r.csv").open(encoding="utf-8")))
    assert [r["message_id"] for r in rows] == [
        "LOCAL-PREV",
        "5B81FF24A1",
        "A61D178E73",
        "LOCAL-NEXT",
    ]
    assert rows[0]["event_datetime"] == "2020-02-03T02:59:59.999+00:00"
    code, _, err = run_cli(
        "notifications",
        "report",
        "--customer",
        str(ACME),
        "--format",
        "jsonl",
        "--from",
        "2020-02-04T00:00",
        "--out",
        stream / "r.jsonl",
    )
    assert code == 0, err
    lines = [json.loads(x) for x in (stream / "r.jsonl").read_text().splitlines()]
    assert lines == [
        {
            "message_id": "LOCAL-NEXT",
            "customer_id": ACME,
            "customer_name": "Acme",
            "channel": "Whatsapp",
            "payload": "amanhã",
            "event_datetime": "2020-02-04T03:00:00.000+00:00",
        }
    ]


def test_a_long_report_streams_in_chunks_kept_in_order(
    spark: SparkSession, stream: Path, monkeypatch: pytest.MonkeyPatch, run_cli
) -> None:
    monkeypatch.setattr(report_io, "CHUNK_ROWS", 7)  # 5 messages a minute: a chunk each
    messages = [
        (
            ACME,
            "Acme",
            "Whatsapp",
            f"M{i:03d}",
            "x",
            utc(f"2020-02-03T15:{5 - i % 6:02d}:{i % 7:02d}+00:00"),
        )
        for i in range(30)
    ]
    write_stream(spark, stream / "n", messages)
    code, _, err = run_cli(
        "notifications", "report", "--customer", "Acme", "--out", stream / "r.txt"
    )
    assert code == 0, err
    times = [
        line[11:]
        for line in (stream / "r.txt").read_text().splitlines()
        if line.startswith("Data hora")
    ]
    assert len(times) == 30 and times == sorted(times)
    assert err.count("relatório:") == 6  # progress: one line per chunk (a minute each)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--customer", "nobody"], "--customer: no customer with that name"),
        (["--customer", "999"], "--customer: no customer with that customer_id"),
        (["--customer", "GAMA"], "the name matches 2 customers (customer_id 2, 3)"),
        (["--customer", "Acme", "--from", "2021-01-01"], "no messages in the range asked"),
        (["--customer", "Acme", "--from", "03/02/2020"], "--from: not an ISO date"),
        (
            ["--customer", "Acme", "--from", "2020-02-04", "--to", "2020-02-03"],
            "--from must come before --to",
        ),
        (["--customer", "Acme", "--format", "pdf"], "--format must be one of txt, csv, jsonl"),
    ],
)
def test_bad_input_gets_one_line_exit_2_and_no_file(
    run_cli, stream: Path, args: list[str], expected: str
) -> None:
    code, out, err = run_cli("notifications", "report", *args, "--out", stream / "r.txt")
    assert (code, out) == (2, "")
    assert expected in _error(err)
    assert not (stream / "r.txt").exists()


def test_render_report_takes_rows_from_anywhere() -> None:
    rows = [{"message_id": "X", "payload": "p", "event_datetime": datetime(2020, 2, 3, 14)}]
    assert "".join(render_report(rows, "Acme")) == (
        "= Cliente: Acme =\nMensagem ID: X\nPayload: “p”\n"
        "Data hora: 2020-02-03T14:00:00.000+00:00\n"
    )


def test_payloads_and_names_reach_only_the_report_file(
    engine: str, capfd, spark: SparkSession, stream: Path
) -> None:
    gather = Gatherer(engine, capfd)
    secret = f"{SENTENCE} {CPF} {EMAIL} {PHONE}"
    write_stream(
        spark,
        stream / "n",
        [
            (10, NAME, "Whatsapp", "C1", secret, utc("2020-02-03T14:00:00+00:00")),
            (11, NAME, "Whatsapp", "C2", secret, utc("2020-02-03T14:00:00+00:00")),
            (12, "Outro", "Whatsapp", "C3", secret, utc("2020-02-03T14:00:00+00:00")),
        ],
    )
    report = ("notifications", "report", "--out")
    for fmt in ("txt", "csv", "jsonl"):
        for out in gather.both_formats(
            *report, stream / f"r.{fmt}", "--customer", "10", "--format", fmt
        ):
            out.assert_clean()
            assert out.code == 0, out.stderr[-800:]
    for args, error in (
        (["--customer", NAME], "matches 2 customers"),
        (["--customer", "Outro", "--from", "2030-01-01"], "no messages"),
        (["--customer", SENTENCE], "no customer with that name"),
        (["--customer", "Outro", "--from", CPF], "--from: not an ISO"),
    ):
        for out in gather.both_formats(*report, stream / "x.txt", *args):
            out.assert_clean()
            out.expect_error(2, error)
    text = (stream / "r.txt").read_text(encoding="utf-8")
    assert NAME in text and SENTENCE in text  # the file carries them by design


@pytest.mark.parametrize("fmt", ["txt", "csv", "jsonl"])
def test_the_arrow_path_writes_what_the_row_path_writes(fmt: str) -> None:
    import pyarrow as pa

    from esteira.notifications.report import render_header, render_table

    rows = [
        {
            "message_id": m,
            "customer_id": ACME,
            "customer_name": "Acme",
            "channel": "Whatsapp",
            "payload": p,
            "event_datetime": utc(t),
        }
        for m, p, t in (
            ("A", 'vírgula, "aspas"\nlinha', "2020-02-03T14:00:01.001+00:00"),
            ("B", "micro", "2020-02-03T14:00:01.123456+00:00"),
            ("C", "", "2020-02-03T14:00:00+00:00"),
        )
    ]
    table = pa.Table.from_pylist(rows).cast(
        pa.schema(
            [
                ("message_id", pa.string()),
                ("customer_id", pa.int64()),
                ("customer_name", pa.string()),
                ("channel", pa.string()),
                ("payload", pa.string()),
                ("event_datetime", pa.timestamp("us", tz="Etc/UTC")),
            ]
        )
    )
    expected = "".join(render_report(rows, "Acme", fmt))
    assert render_header("Acme", fmt) + render_table(table, fmt) == expected
    assert (
        render_table(table.slice(1), fmt)
        == "".join(render_report(rows[1:], "", fmt))[len(render_header("", fmt)) :]
    )
