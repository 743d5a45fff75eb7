"""The shop's orders API -> a CSV file or the orders topic (issue 16, item 3).

Endpoint contract (documented in docs/orders.md):
  GET <api>?updated_since=<ISO 8601>&page=<n>&page_size=<k>     (pages from 1)
  Authorization: Bearer <token>     (ESTEIRA_ORDERS__API_TOKEN; environment only)
  200 -> {"items": [order, ...], "page": n, "total_pages": m}
      or {"items": [...], "next_cursor": "..."}: then the next request sends
         cursor=<next_cursor> instead of page, until next_cursor is null/absent.
  An order has the export's columns (pedido_id, data_pedido, ..., status_pedido) and
  atualizado_em, the time of its last change (ISO 8601 with offset).
  429 and 5xx are retried with exponential back-off, waiting Retry-After when the API
  sends it (seconds or an HTTP date), at most `orders.api_max_attempts` tries per page.

Incremental: the newest `atualizado_em` seen (the high-water mark) is kept per API in
<orders root>/extract_state.json, written only after the output is complete; the next
run asks for updated_since=<mark> (inclusive: an order changed in the same second is
fetched again, which the versioned upsert makes harmless). An order returned twice in
one run (pages shifting under changes) is kept once.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import tenacity

from esteira.connectors import files, kafka, kafka_topics
from esteira.errors import ConfigError, InputError, ServiceError
from esteira.orders.config import OrdersSettings
from esteira.orders.schemas import EVENT_TIME, FIELDS

log = logging.getLogger(__name__)
STATE_FILE = "extract_state.json"


@dataclass(frozen=True)
class ExtractRequest:
    api: str
    since: datetime | None = None  # overrides the high-water mark
    out: Path | None = None
    to_kafka: bool = False

    @classmethod
    def parse(cls, api: str, since: str | None, out: Path | None,
              to_kafka: bool) -> ExtractRequest:
        if urlsplit(api).scheme not in ("http", "https"):
            raise ConfigError("--api must be an http(s) URL")
        if (out is None) == (not to_kafka):
            raise ConfigError("give exactly one of --out FILE.csv or --to-kafka")
        return cls(api, _instant(since, "--since") if since else None, out, to_kafka)


@dataclass
class ExtractResult:
    pages: int = 0
    orders: int = 0
    duplicates: int = 0
    retries: int = 0
    since: str | None = None
    high_water_mark: str | None = None


class _Retryable(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry_after = status, retry_after


def extract(cfg: OrdersSettings, home: Path, request: ExtractRequest, bootstrap: str | None
            = None) -> ExtractResult:
    """Fetches every page changed since the mark, writes them, then moves the mark."""
    if cfg.api_token is None:
        raise ConfigError("the API bearer token is missing: set ESTEIRA_ORDERS__API_TOKEN")
    state_path = cfg.folder(home) / STATE_FILE
    state = _read_state(state_path)
    endpoint = _endpoint(request.api)
    since = request.since.isoformat() if request.since else state.get(endpoint)
    result = ExtractResult(since=since)
    orders: dict[tuple[str, str], dict] = {}
    headers = {"Authorization": f"Bearer {cfg.api_token.get_secret_value()}",
               "Accept": "application/json"}
    with httpx.Client(timeout=cfg.api_timeout_seconds, headers=headers) as client:
        for items in _pages(client, request.api, since, cfg, result):
            for item in items:
                key = (str(item.get("pedido_id")), str(item.get(EVENT_TIME)))
                if key in orders:
                    result.duplicates += 1
                    continue
                orders[key] = item
    rows = list(orders.values())
    result.orders = len(rows)
    if request.out is not None:
        _write_csv(rows, request.out)
    elif rows:
        kafka_topics.ensure_topic(bootstrap or "", cfg.topic, cfg.partitions)
        kafka.produce(bootstrap or "", cfg.topic,
                      ((str(r["pedido_id"]).encode(), json.dumps(r, ensure_ascii=False).encode())
                       for r in rows))
    marks = [_instant(str(r[EVENT_TIME]), "atualizado_em") for r in rows if r.get(EVENT_TIME)]
    newest = max(marks, default=None)
    if newest is not None and (since is None or newest > _instant(since, "state")):
        state[endpoint] = newest.isoformat()
        files.write_text(state_path, json.dumps(state, indent=2) + "\n")
    result.high_water_mark = state.get(endpoint)
    return result


def _pages(client: httpx.Client, api: str, since: str | None, cfg: OrdersSettings,
           result: ExtractResult):
    """Yields each page's items: by page number, or by cursor when the API gives one."""
    params: dict[str, str | int] = {"page_size": cfg.api_page_size, "page": 1}
    if since:
        params["updated_since"] = since
    while True:
        body = _get(client, api, params, cfg, result)
        result.pages += 1
        items = body.get("items")
        if not isinstance(items, list):
            raise InputError(_endpoint(api), f"page {result.pages}: no 'items' list")
        yield items
        cursor = body.get("next_cursor")
        if cursor:
            params.pop("page", None)
            params["cursor"] = cursor
            continue
        if "next_cursor" in body or "cursor" in params or not items:
            return  # a cursor API without a next cursor, or an empty page: the end
        total = body.get("total_pages")
        if total is not None and int(params["page"]) >= int(total):
            return
        if total is None and len(items) < cfg.api_page_size:
            return
        params["page"] = int(params["page"]) + 1


def _get(client: httpx.Client, api: str, params: dict, cfg: OrdersSettings,
         result: ExtractResult) -> dict:
    where = _endpoint(api)

    def once() -> dict:
        try:
            response = client.get(api, params=params)
        except httpx.TransportError as exc:
            raise _Retryable(0, None) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(response.status_code, _retry_after(response))
        if response.status_code in (401, 403):
            raise ConfigError(f"{where}: the API refused the bearer token "
                              f"(HTTP {response.status_code})")
        if response.status_code != 200:
            raise ServiceError(f"{where}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise InputError(where, f"page {result.pages + 1}: not JSON") from None

    def wait(state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Retryable) and failure.retry_after is not None:
            return min(failure.retry_after, cfg.api_max_wait_seconds)
        backoff = 0.5 * 2 ** (state.attempt_number - 1)
        return min(backoff + random.uniform(0, 0.25), cfg.api_max_wait_seconds)

    def note(state: tenacity.RetryCallState) -> None:
        result.retries += 1
        failure = state.outcome.exception() if state.outcome else None
        log.warning("%s: %s on page %d, retrying in %.1f s", where, failure,
                    result.pages + 1, state.upcoming_sleep)

    try:
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable), wait=wait, before_sleep=note,
            stop=tenacity.stop_after_attempt(cfg.api_max_attempts), reraise=True)(once)
    except _Retryable as exc:
        raise ServiceError(f"{where}: {exc} after {cfg.api_max_attempts} tries on page "
                           f"{result.pages + 1}") from None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _endpoint(api: str) -> str:
    """The API without its query string: the state's key, and what messages name."""
    parts = urlsplit(api)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _instant(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{what}: not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_state(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        raise InputError(str(path), "not a JSON object: remove it to fetch everything") from None


def _write_csv(rows: list[dict], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(FIELDS), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files.write_text(path, buffer.getvalue())
