"""Settings of the chatbot system (a section of esteira.settings.Settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ChatbotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preview_rows: int = Field(20, ge=0, description="rows of each flow table the CLI prints")
    reject_record_chars: int = Field(
        10_000, ge=100, description="a rejected record is cut to this length in the rejects file"
    )
