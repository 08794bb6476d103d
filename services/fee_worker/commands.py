"""The fee worker's commands: `feeschedule accruals` (the ledger of a portfolio) and `gaps`."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import redis
import typer
from rich.table import Table

from services.adapters.connection import sync_client
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.ledger import read_ledger, read_unpriced_dates
from services.adapters.readmodel import ReadModel
from services.app.accruals import Statement, statement
from services.app.audit import Source
from services.cli import UsageProblem, app, console, parse_date
from services.domain.errors import DomainError
from services.settings import Settings


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
    log, read_model = EventStore(client, keys), ReadModel(client, keys)
    try:
        return Source("read-model", log, read_model).timeline(name_or_id).portfolio_id
    except (DomainError, redis.ResponseError):
        # No read model yet, one behind the log, or a user who may not run its scripts (the
        # auditor may not EVAL): the replay answers from the log alone.
        return Source("replay", log, read_model).timeline(name_or_id).portfolio_id


def _statement(portfolio: str, start: str, end: str) -> Statement:
    """The ledger statement of a portfolio (by id or any name it has had) over a range."""
    first, last = parse_date("from", start), parse_date("to", end)
    if last < first:
        raise UsageProblem(f"to: {end!r} is before from {start!r}")
    settings = Settings()
    if not settings.redis_url:
        raise UsageProblem("no Redis: set FEES_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    client = sync_client(settings)
    try:
        pid = _portfolio_id(client, settings.keys, portfolio)
        ledger = read_ledger(client, settings.keys, pid)
        parked = read_unpriced_dates(client, settings.keys, pid)
        return statement(pid, ledger, parked, first, last)
    finally:
        client.close()


# The options `accruals` and `gaps` share.
PORTFOLIO = typer.Argument(..., help="Portfolio id, or any name it has had")
FROM = typer.Option(..., "--from", help="First date, YYYY-MM-DD")
TO = typer.Option(..., "--to", help="Last date, YYYY-MM-DD")
JSON = typer.Option(False, "--json", help="Print one JSON object")


@app.command()
def accruals(
    portfolio: str = PORTFOLIO,
    start: str = FROM,
    end: str = TO,
    json_output: bool = JSON,
) -> None:
    """The fee ledger of a portfolio: each day's accrual, its adjustments, and month totals."""
    found = _statement(portfolio, start, end)
    if json_output:
        print(json.dumps(found.as_json(), indent=2))
    else:
        _print_statement(found)


@app.command()
def gaps(
    portfolio: str = PORTFOLIO,
    start: str = FROM,
    end: str = TO,
    json_output: bool = JSON,
) -> None:
    """Days between the first and the last accrued day that no report's period covers."""
    found = _statement(portfolio, start, end)
    if json_output:
        print(json.dumps({"portfolio_id": found.portfolio_id, "gaps": found.gaps}, indent=2))
    elif found.gaps:
        console.print(f"{found.portfolio_id}: no accrual covers {', '.join(found.gaps)}")
    else:
        console.print(f"{found.portfolio_id}: every day from the first accrual on is covered")


def _print_statement(found: Statement) -> None:
    table = Table(title=f"Fee ledger of {found.portfolio_id}, {found.first} to {found.last}")
    entries = found.entries
    # Gross and waived columns only where a waiver applies: the net is then the amount.
    sums = ["accrued", "adjustments"]
    if any(e.gross is not None for e in entries):
        sums += ["gross", "waived"]
    sums.append("amount")
    for column in ("date", "net assets", "schedule", "report", *sums):
        left = column in ("date", "schedule")
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "date")
    month_rows = {m["month"]: m for m in found.months}
    for i, e in enumerate(entries):
        adjustments = ", ".join(f"{a['delta']} ({a['reason']})" for a in e.adjustments)
        cells = {"accrued": f"{Decimal(e.accrued):,}", "adjustments": adjustments}
        gross, waived = e.gross or e.amount, e.waived or "0"
        cells |= {"gross": f"{Decimal(gross):,}", "waived": f"{Decimal(waived):,}"}
        cells["amount"] = f"{Decimal(e.amount):,}"
        head = (e.as_of, f"{Decimal(e.net_assets):,}", _ref_text(e.schedule_ref))
        table.add_row(*head, f"{e.report_id} r{e.revision}", *(cells[k] for k in sums))
        month = e.as_of[:7]
        if i + 1 == len(entries) or entries[i + 1].as_of[:7] != month:
            m = month_rows[month]
            totals = (f"[bold]{Decimal(m[k]):,}[/bold]" for k in sums)
            table.add_row(f"[bold]{month} total[/bold]", "", "", "", *totals, end_section=True)
    console.print(table)
    console.print(f"total {found.total:,} over {len(entries)} day(s)")
    if found.unpriced:
        console.print(f"unpriced (no schedule yet): {', '.join(found.unpriced)}")
    if found.gaps:
        console.print(f"no accrual covers: {', '.join(found.gaps)}")
