"""Settings of the dashboard (a section of esteira.settings.Settings).

The dashboard reads the notification stream's tables and the bills; the day it shows is
a billing day (local midnight to local midnight in `billing.timezone`), so it has no
time zone of its own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="address to listen on: loopback by default")
    port: int = Field(8000, ge=1, le=65535)
    refresh_seconds: float = Field(
        5, gt=0, description="how often the home page asks for fresh counts (no reload)")
    page_size: int = Field(50, ge=1, le=1000, description="customers per page on the home page")
    table_refresh_seconds: float = Field(
        1.0, ge=0, description="a request older than this since the last look at a Delta "
        "table's log brings the handle up to the latest version (incremental)")
    gold_cache_rows: int = Field(
        6_000_000, ge=0, description="gold rows kept in memory, sorted by customer, for "
        "customers' per-minute charts (about 25 bytes a row: 6M, about 150 MB; a day of "
        "5,000 customers is about 3M)")
    assets: Path | None = Field(
        None, description="folder of the front-end libraries (npm ci); default "
        "src/esteira/web/node_modules")
