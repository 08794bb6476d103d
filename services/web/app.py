"""The auditor site as an ASGI (Starlette) app: each page is a view function whose dict is
rendered by a Jinja2 template (autoescaped) at /..., and returned as JSON at /api/....

Read-only by construction: the log is read with XRANGE into a `LogFold` brought up to date at
every request, ledgers with HGETALL/HSCAN, operations with XREVRANGE/XINFO; no script is
ever run, so the `auditor` ACL user (no writes, no EVAL) can serve every page.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from services.adapters.eventstore import EventStore
from services.adapters.http import asyncapi_html
from services.adapters.keys import Keys
from services.adapters.ledger import (
    has_ledger,
    read_closed_months,
    read_ledger,
    read_unpriced_dates,
)
from services.app.accruals import statement
from services.app.audit import LogFold, parse_date, parse_known_at
from services.app.ledger import LedgerEntry
from services.app.site import (
    adjustments_of,
    amendment_view,
    day_explanation,
    parse_levels,
    portfolio_view,
    search,
)
from services.domain.errors import DomainError
from services.web import charts, reads

View = Callable[[Request], dict[str, Any]]


class NotFound(LookupError):
    """A page about something the log or ledger does not hold."""


class Site:
    """The site's state: one Redis client, its key names, and the fold of the log."""

    def __init__(self, client: redis.Redis, keys: Keys, partitions: int = 1) -> None:
        self.client = client
        self.keys = keys
        self.lanes = keys.lanes(partitions)
        self.fold = LogFold(EventStore(client, keys))
        self.lock = threading.Lock()

    # ---- views: each returns the page's JSON, the template renders the same dict ----------

    def home(self, request: Request) -> dict[str, Any]:
        query = request.query_params.get("q", "")
        return {"q": query, "results": search(self.fold, query)}

    def portfolio(self, request: Request) -> dict[str, Any]:
        params = request.query_params
        known_at = parse_known_at(params.get("known_at") or None, params.get("at_position") or None)
        on = params.get("on") or None
        return portfolio_view(
            self.fold,
            request.path_params["portfolio"],
            known_at,
            parse_levels(params.get("levels")),
            None if on is None else parse_date("on", on),
        )

    def _ledger_of(self, name_or_id: str) -> tuple[str, dict[str, str]]:
        """The portfolio id (as the ledger names it, or by any name in the log) and ledger."""
        pid = name_or_id
        if not has_ledger(self.client, self.lanes, pid):
            pid = self.fold.timeline(name_or_id).portfolio_id
        return pid, read_ledger(self.client, self.lanes, pid)

    def accruals(self, request: Request) -> dict[str, Any]:
        pid, ledger = self._ledger_of(request.path_params["portfolio"])
        params = request.query_params
        first = params.get("from") or (min(ledger) if ledger else date.today().isoformat())
        last = params.get("to") or (max(ledger) if ledger else first)
        start, end = parse_date("from", first), parse_date("to", last)
        if end < start:
            raise DomainError("to", last, f"is before from {first}")
        parked = read_unpriced_dates(self.client, self.lanes, pid)
        closed = read_closed_months(self.client, self.lanes, pid)
        found = statement(pid, ledger, parked, start, end, closed)
        return {**found.as_json(), "adjustments": adjustments_of(found.entries)}

    def day(self, request: Request) -> dict[str, Any]:
        pid, ledger = self._ledger_of(request.path_params["portfolio"])
        as_of = parse_date("as_of", request.path_params["as_of"]).isoformat()
        if as_of not in ledger:
            raise NotFound(f"no accrual of {pid} on {as_of}")
        return day_explanation(self.fold, LedgerEntry.from_json(ledger[as_of]))

    def amendment(self, request: Request) -> dict[str, Any]:
        number = request.path_params["number"]
        return amendment_view(self.fold, request.path_params["agreement"], number)

    def operations(self, request: Request) -> dict[str, Any]:
        before = request.query_params.get("before") or None
        return {
            "dead_letters": reads.dead_letters(self.client, self.keys, self.lanes, before),
            "unpriced": reads.unpriced(self.client, self.lanes),
            "consumer_lag": reads.consumer_lag(self.client, self.keys, self.lanes),
            "log_position": self.fold.position,
        }


def _templates() -> Jinja2Templates:
    folder = resources.files("services.web") / "templates"
    templates = Jinja2Templates(directory=str(folder))
    # Decimal, not float: a page shows the ledger's cents as they are.
    templates.env.filters["money"] = lambda v: "" if v is None else f"{Decimal(v):,.2f}"
    templates.env.filters["dumps"] = lambda v: json.dumps(v)
    return templates


@functools.cache
def _plotly_js() -> bytes:
    """Plotly's own bundle, from its Python package: the pages need no internet."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs()).encode()


def _answer(site: Site, view: View, request: Request) -> tuple[dict[str, Any], int]:
    """The view's dict and status 200, after folding what the log recorded since the last
    request; a refusal of the input (400) or an unknown subject (404) as a short message."""
    try:
        # One request at a time reads the fold: a refresh must not change it mid-page.
        with site.lock:
            site.fold.refresh()
            return view(request), 200
    except NotFound as exc:
        return {"error": str(exc)}, 404
    except DomainError as exc:
        return {"error": str(exc)}, 404 if exc.field in ("portfolio", "amendment") else 400


def create_app(client: redis.Redis, keys: Keys, partitions: int = 1) -> Starlette:
    """The site on `client` (the settings' Redis user: the auditor's, in production)."""
    site, templates = Site(client, keys, partitions), _templates()

    def page(template: str, view: View, figure: Callable[[Any], Any] | None = None) -> Any:
        def endpoint(request: Request) -> Response:
            found, status = _answer(site, view, request)
            if status != 200:  # the refusal's message, {"error": ...}
                return templates.TemplateResponse(request, "error.html", found, status)
            chart = None if figure is None else figure(found)
            context = {"view": found, "chart": chart, "query": dict(request.query_params)}
            return templates.TemplateResponse(request, template, context)

        return endpoint

    def api(view: View) -> Any:
        return lambda request: JSONResponse(*_answer(site, view, request))

    def plotly(request: Request) -> Response:
        headers = {"Cache-Control": "max-age=86400"}
        return Response(_plotly_js(), media_type="application/javascript", headers=headers)

    schedule_chart, accruals_chart = charts.schedule_figure, charts.accruals_figure
    pages: list[tuple[str, str, View, Callable[[Any], Any] | None]] = [
        # A name may hold "/" (Met/AIM ...): the portfolio is a path, the longer routes first.
        ("/", "home.html", site.home, None),
        ("/portfolio/{portfolio:path}/accruals", "accruals.html", site.accruals, accruals_chart),
        ("/portfolio/{portfolio:path}/day/{as_of}", "day.html", site.day, None),
        ("/portfolio/{portfolio:path}", "portfolio.html", site.portfolio, schedule_chart),
        ("/amendment/{agreement}/{number:int}", "amendment.html", site.amendment, None),
        ("/operations", "operations.html", site.operations, None),
    ]
    routes = [Route(path, page(t, v, f)) for path, t, v, f in pages]
    api_paths = ["/api/portfolios", *(f"/api{path}" for path, *_ in pages[1:])]
    routes += [Route(p, api(v)) for p, (_, _, v, _) in zip(api_paths, pages, strict=True)]
    routes.append(Route("/static/plotly.js", plotly))
    routes.append(Route("/docs/asyncapi", lambda request: HTMLResponse(asyncapi_html())))
    return Starlette(routes=routes)
