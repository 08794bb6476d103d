"""Projector commands: `feeschedule projector rebuild`."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.console import Console

from services.adapters.connection import sync_client
from services.adapters.readmodel import ReadModel
from services.cli import app, progress_bar
from services.settings import Settings

projector_app = typer.Typer(help="The projector's read model (current schedules, timelines).")
app.add_typer(projector_app, name="projector")
console = Console(stderr=True)


@projector_app.command()
def rebuild(
    workers: int = typer.Option(
        2, "--workers", min=1, help="Processes encoding and writing the new documents."
    ),
) -> None:
    """Replay the whole log into a fresh read model, then swap it in atomically."""
    settings = Settings()
    client = sync_client(settings)
    read_model = ReadModel(client, settings.keys)
    total: Any = client.xlen(settings.keys.agreements)
    started = time.perf_counter()
    with progress_bar("rebuilding read model", console) as progress:
        task = progress.add_task("events", total=int(total))
        result = read_model.rebuild(progress=lambda n: progress.advance(task, n), workers=workers)
    elapsed = time.perf_counter() - started
    rate = result.events / elapsed if elapsed > 0 else 0.0
    print(
        f"read model {result.generation} is current: {result.events} events in {elapsed:.2f}s"
        f" ({rate:,.0f} events/s); replaced {result.previous or 'nothing'}"
    )
