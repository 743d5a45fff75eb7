"""`esteira datagen <system>`: synthetic data for demos, tests and benchmarks.

Each system's generator module registers its own command here.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Synthetic data for demos, tests and benchmarks.", no_args_is_help=True)

# Each generator module adds `@app.command("<system>")`; import them for that side effect.
from esteira.datagen import (  # noqa: E402
    chatbot,  # noqa: F401
    invoices,  # noqa: F401
    orders,  # noqa: F401
    portfolio,  # noqa: F401
    quarantine,  # noqa: F401
    warehouse,  # noqa: F401
)
