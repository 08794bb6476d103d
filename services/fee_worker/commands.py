"""The fee worker's commands: `feeschedule accruals` (the ledger of a portfolio), `gaps`,
`close` (a month's true-up, and the month closed) and `statement` (a month as reviewed)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import redis
import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table

from contracts.messages import Month
from contracts.statement import MonthStatement
from services.adapters.connection import async_client, sync_client
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.ledger import (
    RedisLedgerStore,
    has_ledger,
    read_closed_months,
    read_ledger,
    read_unpriced_dates,
)
from services.adapters.readmodel import ReadModel
from services.app.accruals import Statement, statement
from services.app.audit import Source, parse_date, replay_book
from services.app.close import CloseOutcome, close_month, portfolios_to_close, worker_behind
from services.app.months import month_statement
from services.app.routing import home_partition
from services.cli import UsageProblem, app, console
from services.domain.book import ScheduleBook
from services.domain.errors import DomainError
from services.settings import Settings


def _ref_text(ref: dict[str, Any] | None) -> str:
    if ref is None:
        return "none"
    waiver = " waiver" if ref.get("waiver") else ""
    return f"{ref['agreement_id']} #{ref['amendment_number']}{waiver}"


def _portfolio_id(
    client: redis.Redis, keys: Keys, name_or_id: str, lanes: Sequence[Keys] = ()
) -> str:
    """The id whose ledger to read: as given when the ledger has it, else the portfolio the log
    names so (any name it has had), from the read model or, failing that, a replay; a
    DomainError names what matches nothing (rather than printing an empty ledger)."""
    if has_ledger(client, lanes or [keys], name_or_id):
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
    with sync_client(settings) as client:
        pid = _portfolio_id(client, settings.keys, portfolio, settings.lanes)
        ledger = read_ledger(client, settings.lanes, pid)
        parked = read_unpriced_dates(client, settings.lanes, pid)
        closed = read_closed_months(client, settings.lanes, pid)
        return statement(pid, ledger, parked, first, last, closed)


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


def _adjustment_text(adjustment: dict[str, Any]) -> str:
    posted = adjustment.get("posted_in")
    where = f", posted in {posted}" if posted else ""
    return f"{adjustment['delta']} ({adjustment['reason']}{where})"


def _print_statement(found: Statement) -> None:
    table = Table(title=f"Fee ledger of {found.portfolio_id}, {found.first} to {found.last}")
    entries = found.entries
    # Gross and waived columns only where a waiver applies: the net is then the amount.
    waiver = ["gross", "waived"] if any(e.gross is not None for e in entries) else []
    sums = ["accrued", "adjustments", *waiver, "amount"]
    # A group member's day: the group's combined assets beside the member's own.
    grouped = any(e.group for e in entries)
    head_columns = ("date", "net assets", *(("group assets",) if grouped else ()), "schedule")
    for column in (*head_columns, "report", *sums):
        left = column in ("date", "schedule")
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "date")
    month_rows = {m["month"]: m for m in found.months}
    for i, e in enumerate(entries):
        figures = {"accrued": e.accrued, "gross": e.gross or e.amount, "waived": e.waived or "0"}
        cells = {k: f"{Decimal(v):,}" for k, v in (figures | {"amount": e.amount}).items()}
        cells["adjustments"] = ", ".join(_adjustment_text(a) for a in e.adjustments)
        combined = sum((Decimal(v) for v in (e.group or {}).values()), Decimal(0))
        group_cell = ((f"{combined:,}" if e.group else ""),) if grouped else ()
        head = (e.as_of, f"{Decimal(e.net_assets):,}", *group_cell, _ref_text(e.schedule_ref))
        table.add_row(*head, f"{e.report_id} r{e.revision}", *(cells[k] for k in sums))
        month = e.as_of[:7]
        if i + 1 == len(entries) or entries[i + 1].as_of[:7] != month:
            m = month_rows[month]
            totals = (f"[bold]{Decimal(m[k]):,}[/bold]" for k in sums)
            label = f"[bold]{month} total{' (closed)' if m['closed'] else ''}[/bold]"
            blanks = ("",) * len(head_columns)  # net assets (group assets) schedule report
            table.add_row(label, *blanks, *totals, end_section=True)
    console.print(table)
    for m in found.months:
        for c in m["catch_ups"]:
            console.print(f"{m['month']}: catch-up {c['delta']} for {c['as_of']} ({c['reason']})")
    console.print(f"total {found.total:,} over {len(entries)} day(s)")
    if found.unpriced:
        console.print(f"unpriced (no schedule yet): {', '.join(found.unpriced)}")
    if found.gaps:
        console.print(f"no accrual covers: {', '.join(found.gaps)}")


MONTH = TypeAdapter(Month)  # the contracts' rule for a month, YYYY-MM


def _month(value: str) -> str:
    try:
        return str(MONTH.validate_python(value))
    except ValidationError:
        raise UsageProblem(f"month: {value!r} is not a month written YYYY-MM") from None


@app.command()
def close(
    month: str = typer.Option(..., "--month", help="The month to close, YYYY-MM"),
    agreement: str | None = typer.Option(None, "--agreement", help="Its portfolios only"),
    portfolio: str | None = typer.Option(None, "--portfolio", help="One portfolio (id or name)"),
    force: bool = typer.Option(
        False, "--force", help="Close an incomplete month anyway (PeriodClosed says what lacked)"
    ),
    json_output: bool = JSON,
) -> None:
    """Close a month: each portfolio's fee by its agreement's method, the true-up against its
    daily accruals, and the month kept as it is from then on (FeeTrueUp, PeriodClosed)."""
    month = _month(month)
    if agreement and portfolio:
        raise UsageProblem("--agreement and --portfolio: give one or the other")
    outcomes = asyncio.run(_close(Settings(), month, agreement, portfolio, force))
    if json_output:
        print(json.dumps([_outcome_json(o) for o in outcomes], indent=2))
    else:
        _print_closes(month, outcomes)
    if any(o.status == "refused" for o in outcomes):
        raise typer.Exit(1)


@dataclass
class _WorkerView:
    """The ledger as the fee worker left it, and the log folded to where it priced it."""

    store: RedisLedgerStore
    checkpoint: str
    book: ScheduleBook
    log_end: str


@asynccontextmanager
async def _worker_view(settings: Settings, lane: Keys) -> AsyncIterator[_WorkerView]:
    """One partition's ledger, and the log folded to where that partition is priced."""
    async with async_client(settings) as ledger_client:
        store = RedisLedgerStore(ledger_client, lane, Keys.fee_worker_group)
        checkpoint = await store.checkpoint()
        with sync_client(settings) as client:
            log = EventStore(client, settings.keys)
            book = replay_book(log, checkpoint) if checkpoint else ScheduleBook()
            yield _WorkerView(store, checkpoint, book, log.last_id() or "")


async def _close(
    settings: Settings, month: str, agreement: str | None, portfolio: str | None, force: bool
) -> list[CloseOutcome]:
    """Each partition closes the portfolios whose ledger it holds (a named one: where it is)."""
    named = None
    if portfolio is not None:
        with sync_client(settings) as client:
            named = _portfolio_id(client, settings.keys, portfolio, settings.lanes)
    outcomes: list[CloseOutcome] = []
    for lane in settings.lanes:
        async with _worker_view(settings, lane) as view:
            behind = worker_behind(view.log_end, view.checkpoint, await view.store.unsettled())
            with_ledger = await view.store.ledger_portfolios()
            pids = portfolios_to_close(
                view.book, with_ledger, month, agreement, named, lane.partition, settings.partitions
            )
            outcomes += await close_month(
                view.book,
                view.store,
                pids,
                month,
                checkpoint=view.checkpoint,
                behind=behind,
                force=force,
            )
    return outcomes


@app.command("statement")
def month_statement_command(
    portfolio: str = PORTFOLIO,
    month: str = typer.Option(..., "--month", help="The month, YYYY-MM"),
    json_output: bool = JSON,
) -> None:
    """A portfolio's month as a fund accountant reviews it: the method and its average net
    assets, the daily accruals, the true-up, catch-ups booked in it, and the closing fee."""
    month = _month(month)
    found = asyncio.run(_month_statement(Settings(), portfolio, month))
    if json_output:
        print(found.model_dump_json(by_alias=True, indent=2))
    else:
        _print_month(found)


async def _month_statement(settings: Settings, portfolio: str, month: str) -> MonthStatement:
    with sync_client(settings) as client:
        pid = _portfolio_id(client, settings.keys, portfolio, settings.lanes)
        lane = _lane_of(client, settings, pid, month)
    async with _worker_view(settings, lane) as view:
        return await month_statement(view.book, view.store, pid, month)


def _lane_of(client: redis.Redis, settings: Settings, pid: str, month: str) -> Keys:
    """The partition that settles a portfolio's month, by the rule a close follows."""
    if settings.partitions == 1:
        return settings.lanes[0]
    book = replay_book(EventStore(client, settings.keys))
    return settings.lanes[home_partition(book, pid, f"{month}-01", settings.partitions)]


def _print_month(found: MonthStatement) -> None:
    table = Table(title=f"{found.portfolio_id}, {found.month} ({found.status})", show_header=False)
    table.add_column("item")
    table.add_column("value", justify="right")
    table.add_row("fee method", f"{found.method} ({found.average_over})")
    for part in found.parts:
        ref = "none" if part.schedule_ref is None else f"#{part.schedule_ref.amendment_number}"
        average = (
            "no assets" if part.average_net_assets is None else f"{part.average_net_assets:,.2f}"
        )
        table.add_row(f"{part.start}..{part.end} average net assets ({ref})", average)
    table.add_row("daily accruals", f"{found.daily_total:,}")
    table.add_row("month fee by method", f"{found.fee:,}")
    table.add_row("true-up", f"{found.true_up:,}")
    for c in found.catch_ups:
        table.add_row(f"catch-up for {c.as_of} ({c.reason})", f"{c.delta:,}")
    for m in found.month_catch_ups:
        table.add_row(f"catch-up of {m.month}'s fee", f"{m.difference:,}")
    table.add_row("[bold]closing fee[/bold]", f"[bold]{found.closing_fee:,}[/bold]")
    for line in found.invoices:
        off = "" if line.difference is None else f" (difference {line.difference:,})"
        table.add_row(f"invoice {line.invoice_id}: {line.status}{off}", f"{line.amount:,}")
        for why in line.explanations:
            table.add_row(f"  {why}", "")
    console.print(table)


def _outcome_json(outcome: CloseOutcome) -> dict[str, Any]:
    true_up = None if outcome.true_up is None else outcome.true_up.model_dump(mode="json")
    return asdict(outcome) | {"missing": list(outcome.missing), "true_up": true_up}


def _print_closes(month: str, outcomes: list[CloseOutcome]) -> None:
    table = Table(title=f"Closing {month}")
    left = ("portfolio", "status", "method")
    for column in (*left, "daily accruals", "month fee", "true-up"):
        table.add_column(column, justify="left" if column in left else "right")
    for o in outcomes:
        t = o.true_up
        figures = (
            ("", "", "", "")
            if t is None
            else (t.method, f"{t.daily_total:,}", f"{t.fee:,}", f"{t.true_up:,}")
        )
        table.add_row(o.portfolio_id, o.status, *figures)
    console.print(table)
    for o in outcomes:
        if o.missing:
            verb = "closed without" if o.status == "closed" else "not closed"
            console.print(f"{o.portfolio_id}: {verb}: " + "; ".join(o.missing))
