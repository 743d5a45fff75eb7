"""The layers of docs/architecture.md, checked on the imports read from the source.

- a system package (portfolio, quarantine, ...) imports no other system package;
- connectors, and the shared modules beside them, import no system and no services
  (endpoints are resolved once, in esteira.endpoints, and passed in as plain values);
- systems reach the local services only through esteira.endpoints;
- datagen imports no system's io or job (generators write through connectors).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "esteira"
SYSTEMS = sorted(
    p.name for p in SRC.iterdir()
    if p.is_dir() and (p / "job.py").is_file()
)
SHARED = ["connectors", "engine", "streaming", "quality", "formats", "columns", "errors",
          "runlog", "logs", "alerts", "brazil", "locations"]


def imports(path: Path) -> set[str]:
    """Every esteira module a file imports (at any depth: lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("esteira")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("esteira"):
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def files_of(part: str) -> list[Path]:
    target = SRC / part
    return sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]


def offending(paths: list[Path], banned: list[str], root: Path = SRC) -> list[str]:
    return [
        f"{p.relative_to(root)} imports {name}"
        for p in paths for name in sorted(imports(p))
        if any(name == b or name.startswith(b + ".") for b in banned)
    ]


def test_the_systems_are_found():
    assert {"portfolio", "quarantine", "notifications", "invoices", "chatbot"} <= set(SYSTEMS)


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_system_imports_no_other_system_and_no_services(system: str):
    others = [f"esteira.{s}" for s in SYSTEMS if s != system]
    assert offending(files_of(system), [*others, "esteira.services"]) == []


@pytest.mark.parametrize("part", SHARED)
def test_shared_code_imports_no_system_and_no_services(part: str):
    banned = [f"esteira.{s}" for s in SYSTEMS] + ["esteira.services", "esteira.endpoints"]
    assert offending(files_of(part), banned) == []


def test_datagen_imports_no_system_io_or_job():
    banned = [f"esteira.{s}.{role}" for s in SYSTEMS for role in ("io", "job", "cli")]
    assert offending(files_of("datagen"), banned) == []


def test_the_checker_sees_a_lazy_import(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from esteira.services.kafka import up\n")
    assert offending([sample], ["esteira.services"], tmp_path) == [
        "sample.py imports esteira.services.kafka",
        "sample.py imports esteira.services.kafka.up",
    ]
