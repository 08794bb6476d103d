"""`feeschedule run`: the projector, the fee worker, or both in one process, until SIGINT or
SIGTERM (the demo runs them so too). An entry point: it composes the services' apps."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import typer

from services.adapters.connection import require_url
from services.cli import UsageProblem, app
from services.settings import Settings
from services.site_runner import run_site

ServiceRunner = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]
SERVICES = ("projector", "fee-worker", "all")


def runners_of(service: str) -> list[ServiceRunner]:
    # Imported here: FastStream and each service load only for what is run.
    runners: list[ServiceRunner] = []
    if service in ("projector", "all"):
        from services.projector.service import run_projector

        runners.append(run_projector)
    if service in ("fee-worker", "all"):
        from services.fee_worker.service import run_fee_worker

        runners.append(run_fee_worker)
    return runners


async def serve(runners: list[ServiceRunner], settings: Settings, stop: asyncio.Event) -> None:
    """Run the services until `stop` is set or one of them fails."""
    tasks = [asyncio.create_task(runner(settings, stop)) for runner in runners]
    # One service failing stops the others: a half-running process is worse than none.
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()


@app.command()
def run(
    service: str = typer.Argument("all", help="projector, fee-worker, or all (both)"),
    http_port: int | None = typer.Option(
        None,
        "--http-port",
        help="Serve /health and /metrics on this port (default FEES_HTTP_PORT; 0 = off)",
    ),
) -> None:
    """Run services until SIGINT/SIGTERM: the projector, the fee worker, or both (default)."""
    if service not in SERVICES:
        raise UsageProblem(f"service: {service!r} must be one of {', '.join(SERVICES)}")
    if http_port is not None and not 0 <= http_port <= 65535:
        raise UsageProblem(f"http-port: {http_port} must be between 0 and 65535")
    settings = Settings()
    if http_port is not None:
        settings = settings.model_copy(update={"http_port": http_port})
    require_url(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from services.adapters.http import HttpPortUnavailable

    runners = runners_of(service)
    if service == "all" and settings.http_port:
        runners.append(run_site)  # the site beside /health and /metrics
    try:
        asyncio.run(_until_signalled(runners, settings))
    except HttpPortUnavailable as exc:
        raise UsageProblem(str(exc)) from None


async def _until_signalled(runners: list[ServiceRunner], settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(runners, settings, stop)
