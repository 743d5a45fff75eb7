"""Synthetic clients and managers for the portfolio distribution."""

from __future__ import annotations

from esteira.datagen.cli import app  # noqa: F401
