"""Checks a scheduler's `esteira` argument list against the real CLI, without running it:
the command must exist and its options must parse (typer's own parser, dry)."""

from __future__ import annotations

import typer

from esteira.cli import app
from esteira.orchestrate.plan import find_command


def parse(argv: list[str]) -> tuple[list[str], dict[str, object]]:
    """The command's words and its parsed parameters; AssertionError when `argv` is not a
    command line `esteira` accepts."""
    root = typer.main.get_command(app)
    globals_ = {opt: p for p in root.params for opt in p.opts}
    rest = list(argv)
    while rest and rest[0] in globals_:
        assert len(rest) > 1, f"{rest[0]} needs a value"
        if rest[0] == "--engine":
            assert rest[1] in ("sail", "spark"), rest
        rest = rest[2:]
    found = find_command(rest)
    assert found is not None, f"`esteira {' '.join(argv)}`: no such command"
    command, path, args = found
    ctx = command.make_context(" ".join(["esteira", *path]), list(args))
    return path, dict(ctx.params)
