"""Settings of the invoices system (a section of esteira.settings.Settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class InvoicesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
