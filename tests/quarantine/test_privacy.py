"""`esteira quarantine build/filter/check`: no personal data in any output channel, and
bad input as one line with nothing written (issue 13, items 1, 4c, 5 and 7), both engines.

Every source (xlsx, `;` CSV, Parquet, nested JSON, Delta) carries canaries: in good
rows, in the values the WARNING rules flag (an invalid e-mail holding a name, a phone
without area code), in rows the drop rules reject (no id, a date that is an e-mail, a
future date), and in each broken file (no header line, wrong delimiter, empty, cut short).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from canaries import CPF_DIGITS, EMAIL, FIRST_NAME, NAME, PHONE, PHONE_FORMATTED, SENTENCE
from esteira import cli
from privacy import Gatherer, snapshot

from .conftest import DELTA_SCHEMAS, write_csv, write_xlsx

DAY = "2024-05-28"
SENT = date(2024, 5, 20)
# The campaign's subject is what `check` answers with (why a client is held): not
# personal data; the message text goes in a column of its own in every source.
SUBJECT = "Campanha de maio"
BAD_PHONE = "98765-0432"  # no area code: telefone_invalido (warn), row kept


def _row(client: object, **extra: object) -> dict[str, object]:
    return {"id_cliente": client, "email": EMAIL, "telefone": PHONE_FORMATTED,
            "assunto": SUBJECT, "data_envio": SENT, "mensagem": SENTENCE, **extra}


ROWS = {
    "crm": [
        _row(1000000001, data_base=date(2024, 5, 28)),
        _row(1000000002, email=NAME, telefone=BAD_PHONE, data_base=date(2024, 5, 28)),  # warns
        _row(1000000003, data_envio=date(2024, 6, 30), data_base=date(2024, 5, 28)),  # future
    ],
    "marketing": [
        {**_row("2000000001"), "subject": SUBJECT},
        {**_row("2000000002", email=f"{FIRST_NAME} at home", telefone=BAD_PHONE),
         "subject": SUBJECT},
        {**_row(None), "subject": SUBJECT},  # no id: rejected
        {**_row("2000000004", data_envio=EMAIL), "subject": SUBJECT},  # wrong type
    ],
    "recomendacao": [
        {**_row(CPF_DIGITS), "data_envio": SENT.isoformat()},
        {**_row("3000000002"), "data_envio": PHONE},  # wrong type: rejected
    ],
    "restritos": [
        {"id_cliente": "4000000001", "nome": NAME,
         "contatos": {"email": EMAIL, "numero_telefone": PHONE, "data_solicitacao": "2024-05-01"},
         "motivos": {"descricao": SUBJECT}, "mensagem": SENTENCE},
        {"id_cliente": "4000000002",
         "contatos": {"email": NAME, "numero_telefone": "0", "data_solicitacao": "2024-05-01"},
         "motivos": {"descricao": SUBJECT}, "mensagem": SENTENCE},
    ],
    "ofertas": [_row("5000000001"), _row("5000000002", email=SENTENCE)],
    "fraude": [{**_row("6000000001"), "dt_inclus": SENT, "data_exclus": None}],
}


@pytest.fixture(scope="module")
def world(engine: str, spark, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Sources with canaries and one successful build of DAY."""
    root = tmp_path_factory.mktemp("quarantine_privacy")
    src = root / "fontes"
    write_xlsx(src / "crm" / "crm_data.xlsx", ROWS["crm"],
               columns=["id_cliente", "email", "telefone", "assunto", "data_envio", "data_base",
                        "mensagem"])
    write_csv(src / "marketing" / "marketing_data.csv", ROWS["marketing"],
              columns=["id_cliente", "email", "telefone", "subject", "data_envio", "mensagem"])
    (src / "recomendacao").mkdir(parents=True)
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(ROWS["recomendacao"]), src / "recomendacao" / "p.parquet")
    (src / "restritos").mkdir()
    import json

    (src / "restritos" / "restritos.json").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS["restritos"]) + "\n"
    )
    for key in ("ofertas", "fraude"):
        names = [c.split()[0] for c in DELTA_SCHEMAS[key].split(",")]
        data = [tuple(r.get(n) for n in names) for r in ROWS[key]]
        spark.createDataFrame(data, DELTA_SCHEMAS[key]).write.format("delta").save(str(src / key))
    paths = {"root": root, "sources": src, "table": root / "lake" / "q",
             "rejects": root / "lake" / "r"}
    return paths


@pytest.fixture
def env(world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in (("TABLE", world["table"]), ("REJECTS", world["rejects"]),
                       ("STAGING", tmp_path / "stage"), ("DOWNLOADS", tmp_path / "down")):
        monkeypatch.setenv(f"ESTEIRA_QUARANTINE__{key}", str(value))


def test_build_check_filter_leak_nothing_and_the_run_log_counts_match(
    engine: str, spark, capfd: pytest.CaptureFixture[str], world: dict[str, Path], env: None
) -> None:
    gather = Gatherer(engine, capfd)
    for result in gather.both_formats("quarantine", "build", "--date", DAY,
                                      "--sources", world["sources"]):
        assert result.code == 0, result.stderr[-2000:]
        result.assert_clean()
    assert "email_invalido: 4" in result.stdout and "telefone_invalido: 3" in result.stdout

    # item 7: the run log's counts are the tables' (read here, not from the job)
    record = result.runlog[-1]
    table = spark.read.format("delta").load(str(world["table"])).filter(f"data_carga = '{DAY}'")
    rejects = spark.read.format("delta").load(str(world["rejects"])).filter(f"data_carga = '{DAY}'")
    assert record["outputs"] == {"quarentena_global": table.count()}
    assert record["rejected"] == {"quarantine": rejects.count()}
    assert rejects.count() == 4  # future date, no id, two wrong-type dates
    assert sum(record["inputs"].values()) == 14
    assert record["rules"]["quarantine.email_invalido"]["failed"] == 4

    for args in (("check", "--id", CPF_DIGITS), ("check", "--id", "1000000002")):
        for result in gather.both_formats("quarantine", *args, "--date", DAY):
            assert result.code == 0
            result.assert_clean()

    audience = world["root"] / "campanha.csv"
    audience.write_text(
        f"id_cliente,nome,email\n2000000001,{NAME},{EMAIL}\n6000000001,{NAME},{PHONE}\n"
        f"{CPF_DIGITS},{SENTENCE},{EMAIL}\n", encoding="utf-8")
    out, suppressed = world["root"] / "ok.csv", world["root"] / "no.csv"
    for result in gather.both_formats(
        "quarantine", "filter", "--audience", audience, "--channel", "Marketing",
        "--date", DAY, "--out", out, "--suppressed", suppressed,
    ):
        assert result.code == 0, result.stderr[-2000:]
        result.assert_clean()
    assert result.runlog[-1]["outputs"] == {
        "liberados": len(out.read_text().splitlines()) - 1,
        "suprimidos": len(suppressed.read_text().splitlines()) - 1,
    } == {"liberados": 2, "suprimidos": 1}  # Marketing (7 days from 20/05) is over; Fraude holds


def _break(sources: Path, key: str, make) -> None:
    folder = sources / key
    shutil.rmtree(folder)
    folder.mkdir()
    make(folder)


def _csv(text: str):
    return lambda f: (f / "marketing_data.csv").write_text(text, encoding="utf-8")


MARKETING = f"2000000001;{EMAIL};{PHONE};{SENTENCE};2024-05-20\n"
BUILD_CASES = {
    "no_header": ("marketing", _csv(MARKETING), ["marketing_data.csv", "header line"]),
    "wrong_delimiter": ("marketing", _csv("id_cliente,email,telefone,subject,data_envio\n"
                                          + MARKETING.replace(";", ",")), ["delimiter"]),
    "empty_file": ("marketing", _csv(""), ["missing column(s)"]),
    "missing_column": ("marketing", _csv("email;telefone;subject;data_envio\n" + MARKETING),
                       ["missing column(s) id_cliente"]),
    "corrupt_xlsx": ("crm", None, ["crm_data.xlsx", "not a readable xlsx file"]),
    "xlsx_without_header": ("crm", None, ["missing column(s)", "header line"]),
    "truncated_parquet": ("recomendacao", None, ["cannot be read as parquet"]),
    "truncated_json": ("restritos", None, ["restritos", "truncated"]),
    "corrupt_delta_log": ("ofertas", None, ["cannot be read as delta"]),
    "does_not_exist": ("fraude", None, ["does not exist"]),
}


def _make_broken(sources: Path, case: str) -> None:
    key, make, _ = BUILD_CASES[case]
    if make is not None:
        return _break(sources, key, make)
    if case == "corrupt_xlsx":
        xlsx = sources / "crm" / "crm_data.xlsx"
        xlsx.write_bytes(xlsx.read_bytes()[:300])
    elif case == "xlsx_without_header":
        xlsx = sources / "crm" / "crm_data.xlsx"
        write_xlsx(xlsx, ROWS["crm"][:1], columns=list(ROWS["crm"][0]))
        from python_calamine import CalamineWorkbook  # noqa: F401 - proves the writer's format

        rows = [list(r.values()) for r in ROWS["crm"]]
        import xlsxwriter

        book = xlsxwriter.Workbook(str(xlsx))
        sheet = book.add_worksheet("Planilha1")
        for i, row in enumerate(rows):
            sheet.write_row(i, 0, [str(v) for v in row])
        book.close()
    elif case == "truncated_parquet":
        part = sources / "recomendacao" / "p.parquet"
        part.write_bytes(part.read_bytes()[:-40])
    elif case == "truncated_json":
        lines = (sources / "restritos" / "restritos.json").read_text()
        (sources / "restritos" / "restritos.json").write_text(lines[: len(lines) // 3])
    elif case == "corrupt_delta_log":
        log = sorted((sources / "ofertas" / "_delta_log").glob("*.json"))[-1]
        log.write_bytes(log.read_bytes()[:60])
    elif case == "does_not_exist":
        shutil.rmtree(sources / "fraude")


@pytest.mark.parametrize("case", list(BUILD_CASES))
def test_build_on_bad_input_is_one_line_leaks_nothing_and_writes_nothing(
    engine: str, spark, capfd: pytest.CaptureFixture[str], world: dict[str, Path], env: None,
    tmp_path: Path, case: str,
) -> None:
    if not (world["table"] / "_delta_log").is_dir():
        assert cli.main(["--engine", engine, "quarantine", "build", "--date", DAY,
                         "--sources", str(world["sources"])]) == 0
    sources = tmp_path / "fontes"
    shutil.copytree(world["sources"], sources)
    _make_broken(sources, case)
    key, _, fragments = BUILD_CASES[case]
    before = snapshot(world["table"], world["rejects"])
    for result in Gatherer(engine, capfd).both_formats(
        "quarantine", "build", "--date", DAY, "--sources", sources
    ):
        result.assert_clean()
        result.expect_error(2, f"quarantine source {key}", *fragments)
        assert result.runlog and result.runlog[-1]["status"] == "failed"
    assert snapshot(world["table"], world["rejects"]) == before
    assert not any((tmp_path / "down").glob("*"))  # the run's downloads are gone


FILTER_CASES = {
    "no_header": (f"{CPF_DIGITS},{NAME},{EMAIL}\n", ["missing column(s) id_cliente", "header"]),
    "wrong_delimiter": (f"id_cliente;nome\n{CPF_DIGITS};{NAME}\n", ["delimiter"]),
    "empty_file": ("", ["missing column(s) id_cliente"]),
    "missing_column": (f"cliente,nome\n{CPF_DIGITS},{NAME}\n", ["missing column(s) id_cliente"]),
    "does_not_exist": (None, ["does not exist"]),
}


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_filter_on_bad_input_is_one_line_leaks_nothing_and_writes_nothing(
    engine: str, spark, capfd: pytest.CaptureFixture[str], world: dict[str, Path], env: None,
    tmp_path: Path, case: str,
) -> None:
    text, fragments = FILTER_CASES[case]
    audience = tmp_path / f"{case}.csv"
    if text is not None:
        audience.write_text(text, encoding="utf-8")
    out, suppressed = tmp_path / "ok.csv", tmp_path / "no.csv"
    out.write_text("earlier list\n")
    before = snapshot(out, suppressed)
    for result in Gatherer(engine, capfd).both_formats(
        "quarantine", "filter", "--audience", audience, "--channel", "Marketing",
        "--date", DAY, "--out", out, "--suppressed", suppressed,
    ):
        result.assert_clean()
        result.expect_error(2, audience.name, *fragments)
    assert snapshot(out, suppressed) == before
