"""Commands of the fee worker: `feeschedule run ...` and `feeschedule accruals ...`."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import signal
from collections.abc import Callable, Coroutine
from datetime import date
from decimal import Decimal
from typing import Any

import redis
import typer
from rich.table import Table

from services.adapters.connection import sync_client
from services.adapters.keys import Keys
from services.audit.replay import find_portfolio
from services.cli import UsageProblem, _parse_date, app, console
from services.domain.errors import DomainError
from services.fee_worker.ledger import read_ledger, read_unpriced_dates
from services.fee_worker.pricing import LedgerEntry
from services.settings import Settings

ServiceRunner = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]
SERVICES = ("projector", "fee-worker", "all")


def _projector() -> ServiceRunner:
    try:
        module = importlib.import_module("services.projector.service")
        runner: ServiceRunner = module.run_projector
    except (ImportError, AttributeError):
        raise UsageProblem(
            "the projector is not available (services.projector.service.run_projector is"
            " missing); run `feeschedule run fee-worker` on its own"
        ) from None
    return runner


async def _run(runners: list[ServiceRunner], settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
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
    if not settings.redis_url:
        raise UsageProblem("no Redis: set FEES_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    runners: list[ServiceRunner] = []
    if service in ("projector", "all"):
        runners.append(_projector())
    if service in ("fee-worker", "all"):
        from services.fee_worker.service import run_fee_worker

        runners.append(run_fee_worker)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from services.ops.http import HttpPortUnavailable

    try:
        asyncio.run(_run(runners, settings))
    except HttpPortUnavailable as exc:
        raise UsageProblem(str(exc)) from None


def _entries(ledger: dict[str, str], start: date, end: date) -> list[LedgerEntry]:
    first, last = start.isoformat(), end.isoformat()
    return [LedgerEntry.from_json(ledger[d]) for d in sorted(ledger) if first <= d <= last]


def _adjusted(entry: LedgerEntry) -> Decimal:
    return Decimal(entry.amount) - Decimal(entry.accrued)


def _months(entries: list[LedgerEntry]) -> list[dict[str, str]]:
    months: dict[str, list[Decimal]] = {}
    for e in entries:
        totals = months.setdefault(e.as_of[:7], [Decimal(0), Decimal(0), Decimal(0)])
        totals[0] += Decimal(e.accrued)
        totals[1] += _adjusted(e)
        totals[2] += Decimal(e.amount)
    return [
        {"month": m, "accrued": str(a), "adjustments": str(j), "amount": str(t)}
        for m, (a, j, t) in months.items()
    ]


def _ref_text(ref: dict[str, Any] | None) -> str:
    if ref is None:
        return "none"
    waiver = " waiver" if ref.get("waiver") else ""
    return f"{ref['agreement_id']} #{ref['amendment_number']}{waiver}"


def _portfolio_id(client: redis.Redis, keys: Keys, name_or_id: str) -> str:
    """The id whose ledger to read: as given when the ledger has it, else the portfolio the log
    names so (any name it has had), from the read model or, failing that, a replay; a
    DomainError names what matches nothing (rather than printing an empty ledger)."""
    if client.exists(keys.ledger(name_or_id)):
        return name_or_id
    try:
        return find_portfolio(client, keys, name_or_id, "read-model").portfolio_id
    except (DomainError, redis.ResponseError):
        # No read model yet, one behind the log, or a user who may not run its scripts (the
        # auditor may not EVAL): the replay answers from the log alone.
        return find_portfolio(client, keys, name_or_id, "replay").portfolio_id


@app.command()
def accruals(
    portfolio: str = typer.Argument(..., help="Portfolio id, or any name it has had"),
    start: str = typer.Option(..., "--from", help="First date, YYYY-MM-DD"),
    end: str = typer.Option(..., "--to", help="Last date, YYYY-MM-DD"),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """The fee ledger of a portfolio: each day's accrual, its adjustments, and month totals."""
    first, last = _parse_date("from", start), _parse_date("to", end)
    if last < first:
        raise UsageProblem(f"to: {end!r} is before from {start!r}")
    settings = Settings()
    if not settings.redis_url:
        raise UsageProblem("no Redis: set FEES_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    client = sync_client(settings)
    try:
        portfolio = _portfolio_id(client, settings.keys, portfolio)
        entries = _entries(read_ledger(client, settings.keys, portfolio), first, last)
        unpriced = [
            d
            for d in read_unpriced_dates(client, settings.keys, portfolio)
            if first.isoformat() <= d <= last.isoformat()
        ]
    finally:
        client.close()
    months = _months(entries)
    total = sum((Decimal(e.amount) for e in entries), Decimal(0))
    if json_output:
        result = {
            "portfolio_id": portfolio,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "entries": [json.loads(e.to_json()) for e in entries],
            "months": months,
            "total": str(total),
            "unpriced": unpriced,
        }
        print(json.dumps(result, indent=2))
        return
    table = Table(title=f"Fee ledger of {portfolio}, {first} to {last}")
    for column in ("date", "net assets", "schedule", "report", "accrued", "adjustments", "amount"):
        left = column in ("date", "schedule")
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "date")
    month_rows = {m["month"]: m for m in months}
    for i, e in enumerate(entries):
        adjustments = ", ".join(f"{a['delta']} ({a['reason']})" for a in e.adjustments)
        table.add_row(
            e.as_of,
            f"{Decimal(e.net_assets):,}",
            _ref_text(e.schedule_ref),
            f"{e.report_id} r{e.revision}",
            f"{Decimal(e.accrued):,}",
            adjustments,
            f"{Decimal(e.amount):,}",
        )
        month = e.as_of[:7]
        if i + 1 == len(entries) or entries[i + 1].as_of[:7] != month:
            m = month_rows[month]
            table.add_row(
                f"[bold]{month} total[/bold]",
                "",
                "",
                "",
                f"[bold]{Decimal(m['accrued']):,}[/bold]",
                f"[bold]{Decimal(m['adjustments']):,}[/bold]",
                f"[bold]{Decimal(m['amount']):,}[/bold]",
                end_section=True,
            )
    console.print(table)
    console.print(f"total {total:,} over {len(entries)} day(s)")
    if unpriced:
        console.print(f"unpriced (no schedule yet): {', '.join(unpriced)}")
