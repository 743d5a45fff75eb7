"""`esteira chatbot answers`: no personal data in any output channel (issue 13, items 1,
4c, 5 and 7), on both engines.

The hourly files carry canaries in every field a person fills (name, CPF, e-mail, phone,
a message) and in broken events (no session, a bad timestamp, a line that is not JSON,
an array file cut short in transfer). The success path prints a preview masked unless
--show-values; the run log's counts match the tables written.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from canaries import CPF, EMAIL, NAME, PHONE, SENTENCE, leaks
from esteira import cli
from privacy import Gatherer, snapshot

CONTENT = {"nome": NAME, "cpf": CPF, "email": EMAIL, "telefone": PHONE, "mensagem": SENTENCE}


def event(session: str, second: int, **fields: object) -> dict[str, object]:
    base = {
        "customer": CPF, "flow": "F1", "session": session,
        "timestamp": f"2019-12-16T13:00:{second:02d}+00:00", "content": CONTENT,
    }
    return {**base, **fields}


def write_lake(root: Path) -> Path:
    """hour=13.json (array): 3 good events in 2 sessions, one without session, one with a
    bad timestamp; hour=14.json (lines): 1 good, 1 not JSON; hour=15.json: an array cut
    short (one record, rejected as a whole). 8 events, 4 good, 4 rejected."""
    lake = root / "lake" / "2019-12-16"
    lake.mkdir(parents=True, exist_ok=True)
    hour13 = [
        event("S1", 1), event("S1", 2), event("S2", 3),
        event("", 4), event("S3", 5, timestamp=f"{SENTENCE} {PHONE}"),
    ]
    (lake / "hour=13.json").write_text(json.dumps(hour13, ensure_ascii=False), encoding="utf-8")
    not_json = f'{{"customer": "{CPF}", "nome": "{NAME}'
    lines = [json.dumps(event("S4", 6), ensure_ascii=False), not_json]
    (lake / "hour=14.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cut = json.dumps([event("S5", 7), event("S5", 8)], ensure_ascii=False)
    (lake / "hour=15.json").write_text(cut[: len(cut) // 2], encoding="utf-8")
    return root / "lake"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lake(tmp_path_factory.mktemp("chatbot_privacy"))


def test_success_path_masks_the_preview_logs_nothing_personal_and_counts_match(
    engine: str, spark, capfd: pytest.CaptureFixture[str], lake: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    gather = Gatherer(engine, capfd)
    for result in gather.both_formats("chatbot", "answers", "--input", lake, "--out", out):
        assert result.code == 0, result.stderr[-2000:]
        result.assert_clean()
        assert "***" in result.stdout  # the preview is there, masked
        # the cut file is named, with what was wrong, in one warning
        assert "hour=15.json: 1 event(s) rejected (not a valid JSON object)" in " ".join(
            result.stderr.split()
        )
    # asked for, the values are shown (so the masking above is what hid them)
    shown = gather.run("chatbot", "answers", "--input", lake, "--out", out, "--show-values")
    assert shown.code == 0 and NAME in shown.stdout and leaks(shown.stdout)
    assert not leaks(shown.stderr)

    # item 7: the run log's counts are the tables' counts (read independently here)
    record = result.runlog[-1]
    assert record["status"] == "succeeded"
    answers = spark.read.format("delta").load(str(out / "answers")).count()
    flow = spark.read.format("delta").load(str(out / "flows" / "F1")).count()
    with (out / "rejects.csv").open(newline="", encoding="utf-8") as fh:
        rejects = list(csv.DictReader(fh))
    assert record["inputs"] == {"events": 8}
    assert record["outputs"] == {"rejects": 4, "answers": answers, "flow F1": flow}
    assert len(rejects) == 4
    assert flow == 3  # S1, S2, S4
    assert answers == 3 * len(CONTENT)


def _missing(root: Path) -> Path:
    return root / "nowhere"


def _no_hour_files(root: Path) -> Path:
    folder = root / "wrong_names"
    folder.mkdir(exist_ok=True)
    (folder / "events.json").write_text(json.dumps([event("S1", 1)]), encoding="utf-8")
    return folder


def _empty_file(root: Path) -> Path:
    folder = root / "empty"
    folder.mkdir(exist_ok=True)
    (folder / "hour=13.json").write_text("", encoding="utf-8")
    return folder


BAD = {
    "does_not_exist": (_missing, "path does not exist"),
    "no_hour_files": (_no_hour_files, "no non-empty hour=HH.json files"),
    "empty_file": (_empty_file, "no non-empty hour=HH.json files"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_leaves_the_tables(
    engine: str, spark, capfd: pytest.CaptureFixture[str], lake: Path, tmp_path: Path, case: str
) -> None:
    out = tmp_path / "out"
    assert cli.main(["--engine", engine, "chatbot", "answers", "--input", str(lake),
                     "--out", str(out)]) == 0
    tables = [out / "answers", out / "flows" / "F1", out / "csv", out / "rejects.csv"]
    before = snapshot(*tables)
    make, problem = BAD[case]
    source = make(tmp_path)
    for result in Gatherer(engine, capfd).both_formats(
        "chatbot", "answers", "--input", source, "--out", out
    ):
        result.assert_clean()
        result.expect_error(2, source.name, problem)
    assert snapshot(*tables) == before
