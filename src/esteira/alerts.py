"""Alerts: a JSON message POSTed to a webhook when something needs a person.

Sent for a failed run (runlog.track_run, and `esteira run` for a step that failed before
any job started), a source whose rejected share is over its threshold
(Run.record_quality) and a stream that stopped or fell behind (streaming's watcher).
The message carries names, counts, run ids and our own one-line errors, which never hold
personal data; the body has a `text` line too, so a Slack or Teams incoming webhook
shows it as it is.

Configured once per process (`configure`, called by the CLI's root callback); without a
webhook URL nothing is sent. A webhook that does not answer costs a warning in the log,
never the run.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

log = logging.getLogger(__name__)


class AlertSettings(BaseModel):
    """The `alerts` settings section."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: SecretStr | None = Field(
        None, description="where alerts are POSTed; none: off. Masked when printed: a URL "
        "may hold a token (Slack's do), so set such a one in the environment"
    )
    secret_headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="headers with credentials, only from the environment: "
        "ESTEIRA_ALERTS__SECRET_HEADERS='{\"Authorization\": \"Bearer ...\"}'",
    )
    timeout_seconds: float = Field(5.0, gt=0)
    attempts: int = Field(2, ge=1, description="tries per alert (1 s apart)")
    max_rejected_share: float = Field(
        0.05, ge=0, le=1, description="alert when a source sets aside more than this share "
        "of its rows"
    )
    rejected_share: dict[str, float] = Field(
        default_factory=dict,
        description="per-source thresholds, keyed `pipeline.source` (e.g. "
        "quarantine.build.quarantine) or `source`",
    )
    stream_max_offsets_behind: int = Field(
        1_000_000, ge=0, description="alert when a stream is this many Kafka records behind"
    )

    def threshold(self, pipeline: str, source: str) -> float:
        for key in (f"{pipeline}.{source}", source):
            if key in self.rejected_share:
                return self.rejected_share[key]
        return self.max_rejected_share


_section = AlertSettings()


def configure(section: AlertSettings) -> None:
    """Sets this process's alert settings (the CLI does, from the settings in effect)."""
    global _section  # noqa: PLW0603 - one alert destination per process, like logging
    _section = section


def current() -> AlertSettings:
    return _section


def send(kind: str, summary: str, **fields: Any) -> bool:
    """POSTs one alert; True when the webhook took it. Never raises."""
    section = _section
    if not section.webhook_url:
        return False
    body = {
        "text": f"esteira: {summary}",
        "app": "esteira",
        "kind": kind,
        "host": socket.gethostname(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        **fields,
    }
    headers = {"Content-Type": "application/json",
               **{k: v.get_secret_value() for k, v in section.secret_headers.items()}}
    request = urllib.request.Request(
        section.webhook_url.get_secret_value(),
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"), headers=headers, method="POST",
    )
    for attempt in range(1, section.attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=section.timeout_seconds) as response:
                response.read()
            return True
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # the URL itself may hold a token (Slack's do): name only what went wrong
            log.warning("alert %s not delivered (try %d of %d): %s", kind, attempt,
                        section.attempts, exc.__class__.__name__)
            if attempt < section.attempts:
                time.sleep(1)
    return False


def check_rejected_share(pipeline: str, run_id: str, source: str, rows: int,
                         rejected: int) -> bool:
    """Sends `rejected_share` when `source` set aside more than its threshold."""
    if rows <= 0:
        return False
    share, limit = rejected / rows, _section.threshold(pipeline, source)
    if share <= limit:
        return False
    return send(
        "rejected_share",
        f"{pipeline}: {source} set aside {rejected} of {rows} rows "
        f"({share:.1%}, threshold {limit:.1%})",
        pipeline=pipeline, run_id=run_id, source=source, rows=rows, rejected=rejected,
        share=round(share, 6), threshold=limit,
    )
