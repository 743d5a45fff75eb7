"""Errors of ours: each one becomes a single clear line and a non-zero exit in the CLI.

A message names the file, row or field at fault and never carries personal data
(CPF, e-mail, phone, message text).
"""

from __future__ import annotations

import re


class EsteiraError(Exception):
    """Base for expected failures: bad input, bad config, failed checks."""

    exit_code = 2


class ConfigError(EsteiraError):
    """The configuration is invalid; raised before any work starts."""


class InputError(EsteiraError):
    """An input file or table is missing, unreadable or malformed."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class MissingColumnError(InputError):
    """A DataFrame lacks columns a pipeline needs (quinn's DataFrameMissingColumnError).

    The names found are never quoted: in a file without a header line the first data
    row is taken as the header, so they may be a CPF, an e-mail or a phone number. The
    message says how many columns were found and what they look like.
    """

    def __init__(self, source: str, missing: list[str], found: list[str]) -> None:
        self.missing = missing
        super().__init__(
            source,
            f"missing column(s) {', '.join(missing)}; found {len(found)} column(s)"
            f"{header_hint(found)}",
        )


_DATA_LIKE = re.compile(r"^[\s\d.,:/()+-]+$")  # numbers, dates, phones, CPFs


def header_hint(found: list[str]) -> str:
    """What a header that lacks the expected columns looks like, without quoting it: a
    wrong delimiter (one column holding separators) or a data row (no header line)."""
    seps = [s for s in (";", ",", "|", "\t") if any(s in c for c in found)]
    if seps:
        return f" (the header looks {seps[0]!r}-separated: check the delimiter)"
    if any("@" in c or _DATA_LIKE.match(c) for c in found):
        return " (the first line looks like data: does the file have a header line?)"
    return ""


class QualityError(EsteiraError):
    """A `fail` expectation was broken or a validation failed: nothing was written."""


class EngineError(EsteiraError):
    """The requested engine cannot run this job (or could not start)."""


class ServiceError(EsteiraError):
    """A local or external service (Kafka, PostgreSQL) is not available."""


def first_line(exc: BaseException | object) -> str:
    """The first line of an exception's text (at most 300 characters), else its class.

    Only for our own errors and engine errors that quote no data: a driver's or engine's
    text can carry row values, so a message built from one must not reach a user.
    """
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__
