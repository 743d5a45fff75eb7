"""Settings of the notifications system (a section of esteira.settings.Settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class NotificationsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
