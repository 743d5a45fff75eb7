"""Settings of the quarantine system (a section of esteira.settings.Settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class QuarantineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
