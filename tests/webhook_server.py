"""A real HTTP server on loopback that records the alerts POSTed to it (tests only)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from esteira import alerts


@dataclass
class Webhook:
    url: str
    received: list[dict] = field(default_factory=list)  # {"path", "headers", "body", "raw"}
    status: int = 200

    def bodies(self, kind: str | None = None) -> list[dict]:
        return [r["body"] for r in self.received if kind is None or r["body"].get("kind") == kind]


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    """A webhook on 127.0.0.1; ESTEIRA_ALERTS__WEBHOOK_URL points at it, and the process's
    alert settings are put back afterwards."""
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            hook.received.append({"path": self.path, "headers": dict(self.headers),
                                  "body": json.loads(raw), "raw": raw})
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/esteira"
    monkeypatch.setenv("ESTEIRA_ALERTS__WEBHOOK_URL", hook.url)
    before = alerts.current()
    try:
        yield hook
    finally:
        alerts.configure(before)
        server.shutdown()
        server.server_close()
