"""Settings of the chatbot system (a section of esteira.settings.Settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ChatbotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
