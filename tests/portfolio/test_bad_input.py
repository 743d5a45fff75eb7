"""`esteira portfolio assign` on bad input (issue 13, items 1, 4c and 5), both engines.

Every input carries the canary personal values. Each case ends with exit status 2 and
one line naming the file and the problem (and the row and column where there is one),
no canary in any output channel (stdout, stderr, text and JSON logs, run log, JVM
output), and every output table at the version it had.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from canaries import CPF, CPF_DIGITS, EMAIL, NAME, PHONE_FORMATTED, SENTENCE
from esteira import cli
from privacy import Gatherer

CLIENT_HEADER = "nr_cli,chave_unica,nome,cpf,email,telefone,obs"
MANAGER_HEADER = "id_gerente,chave_unica,capacidade,nome,email"


def client_row(nr: object, key: str) -> str:
    return f"{nr},{key},{NAME},{CPF},{EMAIL},{PHONE_FORMATTED},{SENTENCE}"


def write_inputs(folder: Path) -> tuple[Path, Path]:
    """Good clients and managers with canaries in every personal column, plus broken rows:
    a null chave_unica, one id under two keys, a CPF as client number."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [client_row(i, "A" if i % 2 else "B") for i in range(1, 9)]
    rows += [client_row(9, ""), client_row(1, "B"), client_row(CPF_DIGITS, "A")]
    clients = folder / "clients.csv"
    clients.write_text("\n".join([CLIENT_HEADER, *rows]) + "\n", encoding="utf-8")
    managers = folder / "managers.csv"
    managers.write_text(
        f"{MANAGER_HEADER}\nG1,A,,{NAME},{EMAIL}\nG2,B,3,{NAME},{EMAIL}\n", encoding="utf-8"
    )
    return clients, managers


def delta_version(table: Path) -> int:
    return max(int(p.stem) for p in (table / "_delta_log").glob("*.json"))


def table_state(out: Path) -> dict[str, object]:
    """What must not change: each output table's Delta version and summary.json."""
    state: dict[str, object] = {
        name: delta_version(out / name) for name in ("assignment", "unassigned", "rejects")
    }
    state["summary.json"] = (out / "summary.json").read_bytes()
    return state


@pytest.fixture(scope="module")
def first_run(engine: str, spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with good inputs and an earlier successful assignment in out/."""
    root = tmp_path_factory.mktemp("portfolio_bad_input")
    clients, managers = write_inputs(root)
    code = cli.main(
        ["--engine", engine, "portfolio", "assign", "--clients", str(clients),
         "--managers", str(managers), "--out", str(root / "out")]
    )
    assert code == 0
    return root


def _no_header(root: Path) -> tuple[str, str]:
    path = root / "no_header.csv"
    path.write_text(client_row(CPF_DIGITS, "A") + "\n" + client_row(2, "B") + "\n")
    return "clients", str(path)


def _wrong_delimiter(root: Path) -> tuple[str, str]:
    path = root / "semicolons.csv"
    path.write_text((root / "clients.csv").read_text().replace(",", ";"))
    return "clients", str(path)


def _empty(root: Path) -> tuple[str, str]:
    path = root / "empty.csv"
    path.write_text("")
    return "clients", str(path)


def _missing_column(root: Path) -> tuple[str, str]:
    path = root / "no_key.csv"
    path.write_text(f"nr_cli,nome,email\n1,{NAME},{EMAIL}\n")
    return "clients", str(path)


def _does_not_exist(root: Path) -> tuple[str, str]:
    return "clients", str(root / "nowhere.csv")


def _wrong_type(root: Path) -> tuple[str, str]:
    path = root / "managers_bad_capacity.csv"
    path.write_text(
        f"{MANAGER_HEADER}\nG1,A,,{NAME},{EMAIL}\nG2,B,{PHONE_FORMATTED},{NAME},{EMAIL}\n"
    )
    return "managers", str(path)


def _managers_empty(root: Path) -> tuple[str, str]:
    path = root / "managers_header_only.csv"
    path.write_text(MANAGER_HEADER + "\n")
    return "managers", str(path)


def _truncated_parquet(root: Path) -> tuple[str, str]:
    """A Parquet file cut short in transfer (its footer lost)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    full = root / "full.parquet"
    pq.write_table(pa.table({"nr_cli": [CPF_DIGITS], "chave_unica": ["A"], "nome": [NAME]}), full)
    path = root / "truncated.parquet"
    path.write_bytes(full.read_bytes()[:-40])
    return "clients", str(path)


def _corrupt_delta(root: Path) -> tuple[str, str]:
    """A Delta table whose log commit is cut in the middle of a line."""
    table = root / "clients_delta"
    if not table.exists():
        import shutil

        shutil.copytree(root / "out" / "assignment", table)
        log = sorted((table / "_delta_log").glob("*.json"))[-1]
        log.write_bytes(log.read_bytes()[:60])
    return "clients", str(table)


CASES = {
    # case: (inputs, fragments of the error line besides the file name)
    "no_header": (_no_header, ["missing column(s) nr_cli, chave_unica", "header line"]),
    "wrong_delimiter": (_wrong_delimiter, ["missing column(s)", "delimiter"]),
    "empty_file": (_empty, ["clients"]),
    "missing_column": (_missing_column, ["missing column(s) chave_unica"]),
    "does_not_exist": (_does_not_exist, ["does not exist"]),
    "wrong_type": (_wrong_type, ["line 3 (row 2)", "capacidade", "not a whole number"]),
    "managers_empty": (_managers_empty, ["managers table is empty"]),
    "truncated_parquet": (_truncated_parquet, ["cannot be read as parquet"]),
    "corrupt_delta_log": (_corrupt_delta, ["cannot be read as delta"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_leaks_nothing_and_writes_nothing(
    engine: str, capfd: pytest.CaptureFixture[str], first_run: Path, case: str
) -> None:
    make, fragments = CASES[case]
    which, path = make(first_run)
    inputs = {name: str(first_run / f"{name}.csv") for name in ("clients", "managers")}
    inputs[which] = path
    out = first_run / "out"
    before = table_state(out)
    gather = Gatherer(engine, capfd)
    for result in gather.both_formats(
        "portfolio", "assign", "--clients", inputs["clients"], "--managers", inputs["managers"],
        "--out", out,
    ):
        result.assert_clean()
        line = result.expect_error(2, Path(path).name, *fragments)
        assert result.runlog and result.runlog[-1]["status"] == "failed"
    print(line)
    assert table_state(out) == before
    assert not any((out / "_staging").glob("*"))  # the run's scratch copies are gone
