"""The demo layout of `make demo` (what run.data_dir points at), small, for `esteira run`
and the schedulers' tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

LOAD = "2024-05-28"
INVOICE_ROWS, ACCOUNTS, EVENTS = 400, 40, 300


@pytest.fixture(scope="module", name="demo")
def demo_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo layout of `make demo` (run.data_dir), small. Made once, by the generators
    on Sail in a process of their own: inputs are files, the same for either engine."""
    root = tmp_path_factory.mktemp("demo")
    commands = [
        ["portfolio", "--clients", "300", "--managers", "12", "--keys", "3",
         "--out", root / "portfolio"],
        ["quarantine", "--rows", "600", "--date", LOAD, "--out", root / "quarantine"],
        ["invoices", "--rows", INVOICE_ROWS, "--accounts", ACCOUNTS, "--out", root / "invoices/in"],
        ["chatbot", "--events", EVENTS, "--sessions", "30", "--out", root / "chatbot/lake"],
    ]
    script = (
        "import sys; from esteira.cli import main\n"
        f"for args in {[[str(a) for a in c] for c in commands]!r}:\n"
        "    code = main(['--engine', 'sail', 'datagen', *args])\n"
        "    if code: sys.exit(code)\n"
    )
    env = {**os.environ, "ESTEIRA_HOME": str(REPO / ".esteira")}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return root
