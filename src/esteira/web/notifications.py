"""Routes of the notification panel: the home (all customers), a customer's page, the
per-minute series and the detailed report download; each page has its JSON API.

Pages show Brazilian formats (through the template filters); the API keeps ISO 8601
(UTC, `+00:00`, as the seed prints it) and plain numbers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import polars as pl
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, PlainSerializer

from esteira.notifications.report import FORMATS, media_type, render_report, report_filename
from esteira.web.queries import HomePage, Queries

router = APIRouter()
# ISO 8601 with the offset written out (2020-02-03T15:00:00+00:00), as the seed prints it
IsoTime = Annotated[datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str)]
Sort = Literal["notifications", "customer_name", "last_minute"]
Order = Literal["asc", "desc"]


class CustomerRow(BaseModel):
    customer_id: int
    customer_name: str
    notifications: int  # the day's total, every channel
    channels: dict[str, int]  # the day's count per channel
    last_minute: IsoTime | None  # the newest minute counted for the customer (any day)
    last_minute_notifications: int  # notifications in that minute


class CustomersPage(BaseModel):
    day: date
    timezone: str
    channels: list[str]
    total_customers: int
    page: int
    size: int
    pages: int
    version: int | None  # the rollup's Delta version these counts come from
    customers: list[CustomerRow]


class MinuteSeries(BaseModel):
    customer_id: int
    day: date
    timezone: str
    minutes: list[IsoTime]  # minutes with at least one notification, in order
    series: dict[str, list[int]]  # per channel, aligned with `minutes`
    totals: dict[str, int]


class Customer(BaseModel):
    customer_id: int
    customer_name: str
    day: date
    timezone: str
    totals: dict[str, int]  # the day's notifications per channel
    last_minute: IsoTime | None
    last_minute_notifications: int


def _queries(request: Request) -> Queries:
    return request.app.state.queries


def pick_day(queries: Queries, day: date | None) -> date:
    """The asked day; else today (billing time zone), or the newest day with counts
    when today has none yet (a quiet night, or back-dated demo data)."""
    if day is not None:
        return day
    today = queries.today()
    latest = queries.latest_day()
    return latest if latest is not None and latest < today else today


def _page(request: Request, day: date | None, q: str, sort: Sort, order: Order, page: int,
          size: int | None) -> tuple[HomePage, int]:
    queries = _queries(request)
    size = size or request.app.state.settings.web.page_size
    home = queries.home(pick_day(queries, day), q, sort, order == "desc", page, size)
    return home, size


@router.get("/api/customers", response_model=CustomersPage, tags=["notifications"])
def customers_api(request: Request, day: date | None = None, q: str = "",
                  sort: Sort = "notifications", order: Order = "desc",
                  page: Annotated[int, Query(ge=1)] = 1,
                  size: Annotated[int | None, Query(ge=1, le=1000)] = None) -> CustomersPage:
    """One row per customer: the day's notifications per channel, the newest minute
    counted and its count. Sortable, searchable by name (or id prefix), paginated."""
    home, size = _page(request, day, q, sort, order, page, size)
    return CustomersPage(
        day=home.day, timezone=_queries(request).tz, channels=home.channels,
        total_customers=home.total_customers, page=page, size=size,
        pages=max(1, -(-home.total_customers // size)), version=home.version,
        customers=[CustomerRow(**row) for row in home.rows])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home_page(request: Request, day: date | None = None, q: str = "",
              sort: Sort = "notifications", order: Order = "desc",
              page: Annotated[int, Query(ge=1)] = 1) -> HTMLResponse:
    return _render_home(request, "home.html", day, q, sort, order, page)


@router.get("/partials/customers", response_class=HTMLResponse, include_in_schema=False)
def customers_partial(request: Request, day: date | None = None, q: str = "",
                      sort: Sort = "notifications", order: Order = "desc",
                      page: Annotated[int, Query(ge=1)] = 1) -> HTMLResponse:
    """The home's table alone: what the page fetches every few seconds (htmx)."""
    return _render_home(request, "_customers.html", day, q, sort, order, page)


def _render_home(request: Request, template: str, day: date | None, q: str, sort: Sort,
                 order: Order, page: int) -> HTMLResponse:
    home, size = _page(request, day, q, sort, order, page, None)
    settings = request.app.state.settings
    return request.app.state.templates.TemplateResponse(request, template, {
        "home": home, "q": q, "sort": sort, "order": order, "page": page,
        "pages": max(1, -(-home.total_customers // size)), "size": size,
        "refresh": settings.web.refresh_seconds, "tz": _queries(request).tz,
        "day_picked": day is not None})


def _customer_or_404(queries: Queries, customer_id: int) -> dict:
    found = queries.customer(customer_id)
    if found is None:
        raise HTTPException(404, f"customer {customer_id} has no notifications counted")
    return found


def _customer_day(queries: Queries, customer_id: int, day: date | None) -> Customer:
    found = _customer_or_404(queries, customer_id)
    if day is None and found["last_minute"] is not None:
        day = found["last_minute"].astimezone(_zone(queries.tz)).date()
    day = day or queries.today()
    minutes = queries.minutes(customer_id, day)
    totals = {ch: int(n) for ch, n in minutes.group_by("channel").agg(
        pl.col("notifications").sum()).sort("channel").iter_rows()}
    return Customer(day=day, timezone=queries.tz, totals=totals, **found)


@router.get("/api/customers/{customer_id}", response_model=Customer, tags=["notifications"])
def customer_api(request: Request, customer_id: int, day: date | None = None) -> Customer:
    """A customer's day: notifications per channel, and the newest minute counted.
    Without `day`: the day of that newest minute."""
    return _customer_day(_queries(request), customer_id, day)


@router.get("/api/customers/{customer_id}/minutes", response_model=MinuteSeries,
            tags=["notifications"])
def minutes_api(request: Request, customer_id: int, day: date) -> MinuteSeries:
    """Notifications per minute and channel of one customer's day (the chart)."""
    queries = _queries(request)
    _customer_or_404(queries, customer_id)
    frame = queries.minutes(customer_id, day)
    wide = frame.pivot(on="channel", index="minute", values="notifications").sort("minute")
    channels = sorted(c for c in wide.columns if c != "minute")
    wide = wide.fill_null(0)
    series = {c: [int(n) for n in wide[c]] for c in channels}
    return MinuteSeries(customer_id=customer_id, day=day, timezone=queries.tz,
                        minutes=wide["minute"].to_list(), series=series,
                        totals={c: sum(v) for c, v in series.items()})


@router.get("/customers/{customer_id}", response_class=HTMLResponse, include_in_schema=False)
def customer_page(request: Request, customer_id: int, day: date | None = None) -> HTMLResponse:
    from esteira.web.billing import bills_for_page

    queries = _queries(request)
    info = _customer_day(queries, customer_id, day)
    return request.app.state.templates.TemplateResponse(request, "customer.html", {
        "c": info, "formats": FORMATS, "tz": queries.tz,
        "bills": bills_for_page(queries, customer_id), "total": sum(info.totals.values())})


@router.get("/customers/{customer_id}/report", tags=["notifications"],
            response_class=StreamingResponse)
def report_download(request: Request, customer_id: int, day: date,
                    format: Literal["txt", "csv", "jsonl"] = "txt") -> StreamingResponse:
    """The detailed report of one customer's day (silver: one row per message_id), in
    the seed's txt layout, CSV or JSON lines, streamed as it is read."""
    queries = _queries(request)
    found = _customer_or_404(queries, customer_id)
    chunks = render_report(queries.report_rows(customer_id, day), found["customer_name"], format)
    name = report_filename(customer_id, day.isoformat(), format)
    return StreamingResponse(chunks, media_type=media_type(format),
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _zone(tz: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)
