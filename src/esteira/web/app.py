"""The dashboard's FastAPI app: read-only, pages (Jinja) and a JSON API behind each.

Kept small: the app, its static files (ours and the front-end libraries that `npm ci`
installed from the lock file, served by the app itself, no CDN), the templates with the
pt-BR formats as filters, and one routes module per system.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from esteira import formats
from esteira.errors import ConfigError
from esteira.settings import Settings
from esteira.web.queries import Queries

HERE = Path(__file__).parent
# what the pages load, from the npm packages (package.json pins them; package-lock.json
# fixes their integrity)
VENDOR = {"htmx.min.js": "htmx.org/dist/htmx.min.js",
          "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
          "uPlot.min.css": "uplot/dist/uPlot.min.css"}


def assets_folder(settings: Settings) -> Path:
    """node_modules with every library the pages load; a clear line when missing."""
    folder = settings.web.assets or HERE / "node_modules"
    missing = [name for name, rel in VENDOR.items() if not (folder / rel).is_file()]
    if missing:
        raise ConfigError(f"web.assets: {folder} lacks {', '.join(missing)}: run `make setup` "
                          "(npm ci in src/esteira/web)")
    return folder


def create_app(settings: Settings, queries: Queries | None = None) -> FastAPI:
    from esteira.web import billing, notifications

    tz = settings.billing.timezone
    if queries is None:
        queries = Queries(settings.notifications.folder(settings.home).resolve(),
                          (settings.billing.folder(settings.home) / "bills").resolve(), tz,
                          settings.web.table_refresh_seconds, settings.web.gold_cache_rows)
    app = FastAPI(title="Painel de Notificações (esteira)", version="1",
                  description="Read-only: notification counts per customer, per-minute "
                  "detail, detailed reports and daily bills. Times are ISO 8601.")
    app.state.settings = settings
    app.state.queries = queries
    app.state.templates = _templates(tz)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/vendor", StaticFiles(directory=assets_folder(settings)), name="vendor")
    app.include_router(notifications.router)
    app.include_router(billing.router)
    return app


def _templates(tz: str) -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    zone = ZoneInfo(tz)

    def local(value: datetime | None, seconds: bool = False) -> str:
        return formats.datetime_br(None if value is None else value.astimezone(zone),
                                   seconds=seconds)

    templates.env.filters.update(
        integer_br=formats.integer_br, date_br=formats.date_br, money_br=formats.money_br,
        datetime_local=local)
    templates.env.globals["vendor"] = VENDOR
    return templates
