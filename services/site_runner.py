"""The auditor site (services.web.app) served by uvicorn: in a thread while a block runs
(`feeschedule web`, the demo's --serve), or beside the services on their HTTP port (`run all`).
Composition, as the runner is: the entry points that serve the site share it from here."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from services.adapters.connection import require_url, sync_client
from services.adapters.http import http_endpoint, quiet_config
from services.domain.errors import UsageProblem
from services.settings import Settings
from services.web.app import create_app


@contextlib.contextmanager
def site_running(settings: Settings, host: str, port: int) -> Iterator[str]:
    """The site served in a background thread while the block runs; yields its address."""
    require_url(settings)
    try:
        listener = socket.create_server((host, port))
    except OSError as exc:
        raise UsageProblem(f"web: cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
    client = sync_client(settings)
    server = uvicorn.Server(quiet_config(create_app(client, settings.keys, settings.partitions)))
    # In a thread, uvicorn cannot and need not install signal handlers: the caller stops it.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="web", daemon=True
    )
    thread.start()
    try:
        while not server.started and thread.is_alive():
            thread.join(0.02)
        bound = listener.getsockname()
        yield f"http://{bound[0]}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        client.close()


def until_interrupted() -> None:
    """Block until Ctrl-C. Python runs a signal's handler in the main thread only, when it
    next runs Python code: a wait with no timeout (threading.Event().wait()) never returns if
    the kernel hands the SIGINT to another thread (the site's, or one of its workers'), so the
    main thread wakes twice a second to look."""
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(0.5)


async def run_site(settings: Settings, stop: asyncio.Event) -> None:
    """The site on the services' HTTP port (`run all` with FEES_HTTP_PORT), until `stop`."""
    with sync_client(settings) as client:
        site = create_app(client, settings.keys, settings.partitions)
        async with http_endpoint(settings, "web", [], site):
            await stop.wait()
