"""Errors of ours: each one becomes a single clear line and a non-zero exit in the CLI.

A message names the file, row or field at fault and never carries personal data
(CPF, e-mail, phone, message text).
"""

from __future__ import annotations


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
    """A DataFrame lacks columns a pipeline needs (quinn's DataFrameMissingColumnError)."""

    def __init__(self, source: str, missing: list[str], found: list[str]) -> None:
        self.missing = missing
        hint = ""
        seps = [s for s in (";", ",", "|", "\t") if any(s in c for c in found)]
        if seps:
            hint = f" (the header looks {seps[0]!r}-separated: check the delimiter)"
        super().__init__(
            source,
            f"missing column(s) {', '.join(missing)}; found {', '.join(found) or 'none'}{hint}",
        )


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
