"""`feeschedule web`: serve the auditor site with uvicorn until Ctrl-C.

It connects with the settings' Redis user (FEES_REDIS_USERNAME / PASSWORD): in production the
`auditor` ACL user, which may only read; the site never needs more.
"""

from __future__ import annotations

import typer

from services.cli import app, console
from services.settings import Settings
from services.site_runner import site_running, until_interrupted


@app.command()
def web(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on"),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port (0: any free one)"),
) -> None:
    """Serve the auditor's read-only web site (schedules as known at any moment, every fee
    explained) until Ctrl-C."""
    with site_running(Settings(), host, port) as address:
        console.print(f"[bold]auditor site[/bold]: {address} (Ctrl-C stops it)", highlight=False)
        until_interrupted()
