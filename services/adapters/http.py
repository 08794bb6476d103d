"""`/health` and `/metrics`: a Starlette app served by uvicorn, in the service's own process.

`/docs/asyncapi` shows contracts/asyncapi.yaml as HTML rendered here (channels, messages and
their payload schemas), since FastStream's AsyncAPI page loads its viewer from a CDN and the
services must work offline.

`/health` answers 200 with `{"status": "ok", ...}` when Redis answers PING within a short
timeout, else 503. `/metrics` refreshes the consumer-group gauges from Redis and returns the
default Prometheus registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
import uvicorn
import yaml
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.adapters.connection import async_client
from services.adapters.metrics import GroupMetrics
from services.settings import Settings

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 1.0
OWN_PATHS = ("/health", "/metrics", "/docs/asyncapi")


def quiet_config(app: ASGIApp) -> uvicorn.Config:
    """uvicorn for `app` served in this process: warnings only, no lifespan, no access log."""
    return uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)


class _Server(uvicorn.Server):
    """uvicorn, but leaving SIGINT and SIGTERM to the service: it stops this server itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpPortUnavailable(OSError):
    """The health/metrics address could not be bound (in use, or not allowed)."""


class HealthServer:
    """Serves /health and /metrics for one service process."""

    def __init__(
        self,
        service_name: str,
        client: aioredis.Redis,
        groups: Sequence[tuple[str, str]] = (),
        *,
        owns_client: bool = False,
    ) -> None:
        self.service_name = service_name
        self.client = client
        self.owns_client = owns_client
        self.group_metrics = GroupMetrics(client, groups, service=service_name)
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        # An ASGI site served under the other paths (the auditor's site in `run all`).
        self.site: ASGIApp | None = None

    def join(
        self, service_name: str, groups: Sequence[tuple[str, str]], site: ASGIApp | None = None
    ) -> None:
        """Another service of this process: report its name and its groups too (and serve
        its site, if it has one)."""
        self.service_name = f"{self.service_name},{service_name}"
        self.group_metrics.groups.extend(groups)
        self.group_metrics.service = self.service_name
        self.site = site or self.site

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port); returns the port."""
        listener = socket.create_server((host, port), reuse_port=False)
        self._server = _Server(quiet_config(self.app()))
        self._serving = asyncio.create_task(self._server.serve(sockets=[listener]))
        while not self._server.started and not self._serving.done():
            await asyncio.sleep(0.01)
        if self._serving.done():
            self._serving.result()  # it failed to start: raise why
        return int(listener.getsockname()[1])

    async def close(self) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
            self._server = self._serving = None
        if self.owns_client:
            await self.client.aclose()

    async def _site(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Reached for every path the routes above do not answer: one of theirs with another
        # method is refused as such, not handed to the site.
        if scope.get("path") in OWN_PATHS:
            await Response("method not allowed\n", 405)(scope, receive, send)
        elif self.site is None:
            await Response("not found\n", 404, media_type="text/plain")(scope, receive, send)
        else:
            await self.site(scope, receive, send)

    def app(self) -> Starlette:
        """The ASGI app: GET (or HEAD) the OWN_PATHS, /health, /metrics and /docs/asyncapi."""

        async def health(request: Request) -> Response:
            status, body = await self.health()
            return Response(json.dumps(body) + "\n", status, media_type="application/json")

        async def metrics(request: Request) -> Response:
            return Response(await self.metrics(), headers={"Content-Type": CONTENT_TYPE_LATEST})

        async def asyncapi(request: Request) -> Response:
            return HTMLResponse(asyncapi_html())

        own = zip(OWN_PATHS, (health, metrics, asyncapi), strict=True)
        routes = [Route(path, endpoint, methods=["GET", "HEAD"]) for path, endpoint in own]
        return Starlette(routes=[*routes, Mount("/", app=self._site)])

    async def health(self) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"service": self.service_name}
        try:
            await asyncio.wait_for(self.client.ping(), timeout=PING_TIMEOUT_S)
        except Exception as exc:  # any failure to PING means "not reachable"
            body.update(status="unhealthy", redis="unreachable", error=type(exc).__name__)
            return 503, body
        body.update(status="ok", redis="ok")
        return 200, body

    async def metrics(self) -> bytes:
        try:
            await asyncio.wait_for(self.group_metrics.refresh(), timeout=PING_TIMEOUT_S * 2)
        except TimeoutError:
            log.warning("metrics: consumer-group refresh timed out")
        return generate_latest(REGISTRY)


# One server per address in a process: `feeschedule run all` runs two services in one process,
# and each asks for a server at the same address; the second joins the first's server.
_servers: dict[tuple[str, int], tuple[HealthServer, list[str]]] = {}


@contextlib.asynccontextmanager
async def http_endpoint(
    settings: Settings,
    service_name: str,
    groups: Sequence[tuple[str, str]],
    site: ASGIApp | None = None,
    *,
    client: aioredis.Redis | None = None,
) -> AsyncIterator[None]:
    """/health and /metrics on settings.http_host:http_port while the block runs (0 = none).

    The server listens before the block starts (a port in use raises OSError there) and reads
    the consumer-group gauges of `groups` at each scrape. With `client` None it opens its own
    Redis connection from settings and closes it when its last user leaves, so a service's hot
    path never waits behind a scrape. Services of one process with the same address share one
    server (names joined, groups added); `site`, an ASGI app, is served under every other path.
    """
    if settings.http_port == 0:
        yield
        return
    address = (settings.http_host, settings.http_port)
    owned: aioredis.Redis | None = None
    if address in _servers:
        server, users = _servers[address]
        server.join(service_name, groups, site)
    else:
        if client is None:
            client = owned = async_client(settings)
        server = HealthServer(service_name, client, groups, owns_client=owned is not None)
        server.site = site
        users = []
        _servers[address] = (server, users)  # before awaiting, so a concurrent call joins
        try:
            await server.start(*address)
        except OSError as exc:
            del _servers[address]
            await server.close()
            raise HttpPortUnavailable(
                f"http-port: cannot listen on {address[0]}:{address[1]} ({exc.strerror or exc})"
            ) from exc
        log.info("%s: /health and /metrics on http://%s:%d", service_name, *address)
    users.append(service_name)
    try:
        yield
    finally:
        users.remove(service_name)
        if not users and _servers.get(address, (None,))[0] is server:
            del _servers[address]
            await server.close()


async def serve_http(
    settings: Settings,
    service_name: str,
    client: aioredis.Redis,
    groups: Sequence[tuple[str, str]],
    stop: asyncio.Event,
) -> None:
    """Serve /health and /metrics with `client` until `stop` is set (http_port 0: just wait)."""
    async with http_endpoint(settings, service_name, groups, client=client):
        await stop.wait()


# ---- /docs/asyncapi: the AsyncAPI document as plain HTML, every value escaped -----------------


def _schema_type(schema: dict[str, Any]) -> str:
    """A property's type in a few words ("string (decimal)", "array of BandCharge", ...)."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_schema_type(s) for s in schema[key])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return "array of " + _schema_type(schema.get("items", {}))
    if "const" in schema:
        return f"{kind} = {schema['const']!r}"
    if "enum" in schema:
        return f"{kind}: " + " | ".join(map(str, schema["enum"]))
    return kind + (f" ({schema['format']})" if "format" in schema else "")


def _schema_table(name: str, schema: dict[str, Any]) -> str:
    e = html.escape
    required = set(schema.get("required", ()))
    rows = "".join(
        f"<tr><td><code>{e(p)}</code>{' *' if p in required else ''}</td>"
        f"<td>{e(_schema_type(s))}</td><td>{e(str(s.get('description', '')))}</td></tr>"
        for p, s in schema.get("properties", {}).items()
    )
    return (
        f'<h3 id="schema-{e(name)}">{e(name)}</h3><p>{e(str(schema.get("description", "")))}</p>'
        f"<table><tr><th>field (* required)</th><th>type</th><th>description</th></tr>{rows}"
        "</table>"
    )


@functools.cache
def asyncapi_html() -> str:
    """contracts/asyncapi.yaml as one HTML page: channels, their messages, payload schemas."""
    e = html.escape
    doc = yaml.safe_load(resources.files("contracts").joinpath("asyncapi.yaml").read_text())
    info, parts = doc["info"], []
    for key, channel in doc["channels"].items():
        messages = ", ".join(
            f'<a href="#schema-{e(m)}">{e(m)}</a>' for m in channel.get("messages", {})
        )
        parts.append(
            f'<h3 id="channel-{e(key)}">{e(str(channel.get("title", key)))}</h3>'
            f"<p><code>{e(str(channel.get('address', '')))}</code></p>"
            f"<p>{e(str(channel.get('description', '')))}</p><p>Messages: {messages}</p>"
        )
    schemas = doc["components"].get("schemas", {})
    body = "".join(_schema_table(n, s) for n, s in schemas.items())
    style = (
        "body{font:14px/1.4 system-ui,sans-serif;max-width:1100px;margin:auto;padding:0 16px}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:3px 6px;"
        "text-align:left;vertical-align:top}"
    )
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(info['title'])}"
        f"</title><style>{style}</style></head><body><h1>{e(info['title'])} "
        f"{e(str(info['version']))}</h1><p>{e(str(info.get('description', '')))}</p>"
        f"<h2>Channels</h2>{''.join(parts)}<h2>Messages and schemas</h2>{body}</body></html>"
    )
