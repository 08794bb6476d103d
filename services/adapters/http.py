"""`/health` and `/metrics` over a tiny asyncio HTTP/1.1 server (no web framework needed).

`/health` answers 200 with `{"status": "ok", ...}` when Redis answers PING within a short
timeout, else 503. `/metrics` refreshes the consumer-group gauges from Redis and returns the
default Prometheus registry. Each request gets one response and the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from services.adapters.connection import async_client
from services.adapters.metrics import GroupMetrics
from services.settings import Settings

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 1.0
REQUEST_TIMEOUT_S = 5.0
MAX_HEADER_LINES = 100

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


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
        self._server: asyncio.Server | None = None

    def join(self, service_name: str, groups: Sequence[tuple[str, str]]) -> None:
        """Another service of this process: report its name and its groups too."""
        self.service_name = f"{self.service_name},{service_name}"
        self.group_metrics.groups.extend(groups)
        self.group_metrics.service = self.service_name

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port); returns the port."""
        self._server = await asyncio.start_server(self._handle, host, port)
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.owns_client:
            await self.client.aclose()

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

    async def _respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        if path not in ("/health", "/metrics"):
            return 404, "text/plain; charset=utf-8", b"not found\n"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"method not allowed\n"
        if path == "/health":
            status, body = await self.health()
            return status, "application/json", json.dumps(body).encode() + b"\n"
        return 200, CONTENT_TYPE_LATEST, await self.metrics()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, str]:
        request_line = (await reader.readline()).decode("latin-1").strip()
        for _ in range(MAX_HEADER_LINES):  # headers are read and ignored
            if (await reader.readline()) in (b"\r\n", b"\n", b""):
                break
        method, _, rest = request_line.partition(" ")
        target = rest.partition(" ")[0]
        return method, target.split("?", 1)[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await asyncio.wait_for(self._read_request(reader), REQUEST_TIMEOUT_S)
            status, content_type, body = await self._respond(method, path)
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass  # a client that sent nothing useful or went away: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


# One server per address in a process: `feeschedule run all` runs two services in one process,
# and each asks for a server at the same address; the second joins the first's server.
_servers: dict[tuple[str, int], tuple[HealthServer, list[object]]] = {}


@contextlib.asynccontextmanager
async def _serving(
    settings: Settings,
    service_name: str,
    groups: Sequence[tuple[str, str]],
    client: aioredis.Redis | None,
) -> AsyncIterator[None]:
    """Serve (or join the server of this address) for the duration of the block.

    With `client` None the server opens its own connection from settings and closes it when
    its last user leaves, so a service's hot path never waits behind a scrape.
    """
    if settings.http_port == 0:
        yield
        return
    address = (settings.http_host, settings.http_port)
    owned: aioredis.Redis | None = None
    if address in _servers:
        server, users = _servers[address]
        server.join(service_name, groups)
    else:
        if client is None:
            client = owned = async_client(settings)
        server = HealthServer(service_name, client, groups, owns_client=owned is not None)
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
    token = object()
    users.append(token)
    try:
        yield
    finally:
        users.remove(token)
        if not users and _servers.get(address, (None,))[0] is server:
            del _servers[address]
            await server.close()


def http_endpoint(
    settings: Settings, service_name: str, groups: Sequence[tuple[str, str]]
) -> contextlib.AbstractAsyncContextManager[None]:
    """/health and /metrics on settings.http_host:http_port while the block runs (0 = none).

    The server listens before the block starts (a port in use raises OSError there), uses its
    own Redis connection, and reads the consumer-group gauges of `groups` at each scrape.
    Services of one process with the same address share one server (names joined, groups
    added).
    """
    return _serving(settings, service_name, groups, None)


async def serve_http(
    settings: Settings,
    service_name: str,
    client: aioredis.Redis,
    groups: Sequence[tuple[str, str]],
    stop: asyncio.Event,
) -> None:
    """Serve /health and /metrics with `client` until `stop` is set (http_port 0: just wait)."""
    async with _serving(settings, service_name, groups, client):
        await stop.wait()
