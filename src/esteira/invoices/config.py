"""Settings of the invoices system (a section of esteira.settings.Settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class InvoicesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field("2020-01", description="reference month R (YYYY-MM), excluded")
    windows: list[int] = Field(default_factory=lambda: [3, 6], description="N of each average")
    preview_rows: int = Field(20, ge=0, description="rows of the result printed by the CLI")
