"""Canary values for the privacy tests: personal data that must never reach an output.

Every system's privacy test puts these values in its inputs (good rows, broken rows, a
file without a header, a wrong delimiter, wrong types), runs the command's success path
and each failure path, gathers everything the command printed, logged (text and JSON),
wrote to the run log and what the JVM logged, and checks it with `assert_no_canary`.
The values are chosen so that they cannot occur by chance in our own messages.
"""

from __future__ import annotations

import re
from pathlib import Path

CPF = "529.982.247-25"  # a valid CPF (check digits hold)
CPF_DIGITS = "52998224725"
EMAIL = "canario.sabia@exemplo.com.br"
PHONE = "11987650432"
PHONE_FORMATTED = "(11) 98765-0432"
NAME = "Joaquina Canarinho"
FIRST_NAME = "Joaquina"
SURNAME = "Canarinho"
SENTENCE = "Sua encomenda do canarinho amarelo chegou hoje"

CANARIES = (CPF, CPF_DIGITS, EMAIL, PHONE, PHONE_FORMATTED, NAME, FIRST_NAME, SURNAME, SENTENCE)
# pieces a formatter could leave behind (a CPF without its punctuation, a phone split by
# a space or a dash, a name in upper case)
_PATTERNS = [re.compile(re.escape(value), re.IGNORECASE) for value in CANARIES] + [
    re.compile(r"529\D?982\D?247\D?25"),
    re.compile(r"98765\D?0432"),
    re.compile(r"canarinho", re.IGNORECASE),
    re.compile(r"canario\.sabia", re.IGNORECASE),
]


def leaks(text: str) -> list[str]:
    """The canary patterns found in `text` (empty when it is clean)."""
    return [pattern.pattern for pattern in _PATTERNS if pattern.search(text)]


def assert_no_canary(text: str, where: str) -> None:
    """Fails naming where a canary appeared, quoting the line it appeared on."""
    found = leaks(text)
    if found:
        lines = [line for line in text.splitlines() if leaks(line)]
        raise AssertionError(f"personal data leaked into {where}: {found}; lines: {lines[:3]}")


def read_all(*paths: Path) -> str:
    """The text of every existing file under the given files or folders (run log, JVM log
    files), for a canary check; binary files are skipped."""
    chunks: list[str] = []
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            try:
                chunks.append(file.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, OSError):
                continue
    return "\n".join(chunks)
