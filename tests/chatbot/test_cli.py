"""`esteira chatbot answers` end to end through the CLI, on both engines.

tests/chatbot/data/lake holds hourly files in the seed's shape: hour=13 is a JSON array,
hour=14 JSON lines (with a blank line, a cut line, an event without session and two bad
timestamps); hour=15 and the 2019-12-17 folder are outside the hours and date asked.
"""

from __future__ import annotations

import csv
from pathlib import Path

DATA = Path(__file__).parent / "data"
LAKE = DATA / "lake"

# The seed's two expected tables, verbatim.
F1000 = (DATA / "expected_F1000.md").read_text(encoding="utf-8")
F2000 = (DATA / "expected_F2000.md").read_text(encoding="utf-8")


def _csv_as_pipe_table(path: Path) -> str:
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]]) + "\n"


def test_seed_tables_come_out_exactly(run_cli, spark, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        "chatbot",
        "answers",
        "--input",
        LAKE,
        "--hours",
        "13,14",
        "--date",
        "2019-12-16",
        "--show-values",
        "--out",
        out,
    )
    assert code == 0, err
    assert F1000 in stdout
    assert F2000 in stdout
    assert "F3000" not in stdout  # the other date
    # The summary is a result: stdout, so `> file` keeps it.
    assert f"answers -> {out}; 4 rejected -> {out / 'rejects.csv'}" in stdout
    assert "rejected ->" not in err
    assert _csv_as_pipe_table(out / "csv" / "F1000.csv") == F1000
    assert _csv_as_pipe_table(out / "csv" / "F2000.csv") == F2000
    f1000 = spark.read.format("delta").load(str(out / "flows" / "F1000"))
    assert f1000.columns == F1000.split("\n", maxsplit=1)[0].strip("| ").split(" | ")
    long = spark.read.format("delta").load(str(out / "answers"))
    cpf = long.filter("session = 'S1000' AND key = 'cpf'").collect()
    assert [(r["value"], r["answered_at"].isoformat()) for r in cpf] == [
        ("305.584.960-40", "2019-12-16T14:00:01")
    ]
    assert long.count() == 8  # 3 + 3 + 2 keys
    assert sorted(p.name for p in out.iterdir()) == ["answers", "csv", "flows", "rejects.csv"]
    rejects = list(csv.DictReader((out / "rejects.csv").open(newline="", encoding="utf-8")))
    assert [(r["source"], r["regra"]) for r in rejects] == [
        ("2019-12-16/hour=14.json", "not a valid JSON object"),
        ("2019-12-16/hour=14.json", "session is missing"),
        ("2019-12-16/hour=14.json", "timestamp is not ISO 8601 with an offset"),
        ("2019-12-16/hour=14.json", "timestamp is not ISO 8601 with an offset"),
    ]
    # Another day into the same folder: only its flow's tables remain, no rejects.
    code, stdout, err = run_cli(
        "chatbot", "answers", "--input", LAKE, "--date", "2019-12-17", "--out", out
    )
    assert code == 0, err
    assert sorted(p.name for p in (out / "csv").iterdir()) == ["F3000.csv"]
    assert sorted(p.name for p in (out / "flows").iterdir()) == ["F3000"]
    assert (out / "rejects.csv").read_text() == "source,regra,record\n"


def test_no_matching_hour_files_is_one_clear_line(run_cli, tmp_path):
    code, _, err = run_cli(
        "chatbot", "answers", "--input", LAKE, "--hours", "3", "--out", tmp_path / "out"
    )
    assert code == 2
    assert "no non-empty hour=HH.json files for hours 03" in " ".join(err.split())
