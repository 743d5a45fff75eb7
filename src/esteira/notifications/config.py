"""Settings of the notifications system (a section of esteira.settings.Settings).

Every knob of the stream lives here: the topic, where the Delta tables and the
checkpoint go, the trigger interval, the starting offsets and the two time rules
(dedupe horizon, maximum lateness) of issue 6.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class NotificationsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = "notificacoes-whatsapp"
    partitions: int = Field(
        6, ge=1, description="topic partitions: 20,000 msg/s fits in one, 6 spread the load"
    )
    root: Path | None = Field(
        None, description="folder of the Delta tables and checkpoint; default <home>/notifications"
    )
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    trigger_seconds: float = Field(
        2.0, ge=0, description="micro-batch interval; 0 = back to back (freshness: a message "
        "waits at most this long for its batch to start)"
    )
    bronze_trigger_seconds: float = Field(
        10.0, ge=0, description="micro-batch interval of the bronze query (the archive of "
        "raw records): longer than `trigger_seconds` so that it takes fewer commits and "
        "less CPU from the counting query; 0 = back to back"
    )
    max_offsets_per_trigger: int | None = Field(
        None, ge=1, description="cap on records per micro-batch (None: all available)"
    )
    dedupe_horizon_hours: float = Field(
        24, gt=0,
        description="a re-delivered message_id is dropped when it ARRIVES within this long "
        "of an earlier delivery (Spark's state store, watermark on the broker's "
        "LogAppendTime; a re-delivery carries its original's event time, so this covers "
        "every re-delivery an event-time horizon would; late first deliveries are never "
        "dropped). State: one entry per message_id of the last horizon, about 100M at "
        "100M msgs/day, on disk in RocksDB (see README)",
    )
    max_lateness_days: float = Field(
        35, gt=0, description="older than the newest event time minus this goes to rejects"
    )

    def folder(self, home: Path) -> Path:
        return self.root if self.root is not None else home / "notifications"
