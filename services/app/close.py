"""Closing a month: each portfolio's month fee by its agreement's method, its true-up against
the daily accruals booked in the month, and the one step that closes it (FeeTrueUp and
PeriodClosed emitted, the month marked closed).

A close is refused while the month is not complete (a day no accrual covers, a report waiting
unpriced, reports the fee worker has not settled, an agreements log it has not priced to its
end); forced, it closes anyway and PeriodClosed lists what was missing. A month closes once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from contracts.messages import CloseMonthRequested, FeeTrueUp, MonthCloseRefused, PeriodClosed
from contracts.wire import decode_as, encode
from services.app.accruals import covered_days
from services.app.invoices import waiting_matched
from services.app.ledger import LedgerStore
from services.app.months import (
    closed_records,
    event_id,
    open_true_up,
    statement_of,
    waiting_invoices,
)
from services.app.operations import CloseMonth, Emit, ExpectEntry, ExpectLength, Op, name_parts
from services.app.routing import held_in
from services.domain.book import ScheduleBook
from services.domain.errors import DomainError
from services.domain.month import month_days


@dataclass(frozen=True, slots=True)
class CloseOutcome:
    """What closing one portfolio's month did, and why (what was missing, if anything)."""

    portfolio_id: str
    month: str
    status: Literal["closed", "already_closed", "refused"]
    missing: tuple[str, ...] = ()
    true_up: FeeTrueUp | None = None


def missing_in(month: str, ledger: Mapping[str, str], unpriced: Iterable[str]) -> list[str]:
    """What keeps the month from being complete: its days (from the portfolio's first accrued
    day) that no accrual covers, and its reports still waiting unpriced."""
    days = month_days(month)
    covered = covered_days(ledger.values())
    waiting = [f"{d}: a report waits unpriced (no schedule)" for d in sorted(unpriced)]
    if not covered or min(covered) > days[-1]:
        return [f"{month}: no accrual", *waiting]
    holes = [d for d in days if d >= min(covered) and d not in covered]
    return [*(f"{d}: no accrual covers it" for d in holes), *waiting]


def close_ops(true_up: FeeTrueUp, ledger: Mapping[str, str], missing: list[str]) -> list[Op]:
    """The step that closes the month, held while the month's ledger is as it was read."""
    pid, month = true_up.portfolio_id, true_up.month
    closed = PeriodClosed(
        event_id=event_id("PeriodClosed", true_up.true_up_id),
        portfolio_id=pid,
        month=month,
        true_up_id=true_up.true_up_id,
        forced=bool(missing),
        missing=missing,
    )
    held = [ExpectEntry(pid, day, text) for day, text in sorted(ledger.items()) if day[:7] == month]
    events = (encode(true_up), encode(closed))
    return [
        ExpectLength(pid, len(ledger)),
        *held,
        # What the close booked is kept with the month: the FeeTrueUp itself.
        CloseMonth(pid, month, events[0]["data"], events),
    ]


async def close_month(
    book: ScheduleBook,
    store: LedgerStore,
    portfolio_ids: Iterable[str],
    month: str,
    *,
    checkpoint: str,
    behind: list[str],
    force: bool = False,
) -> list[CloseOutcome]:
    """Close `month` for each portfolio, priced as `book` knows the log at `checkpoint`
    (`behind`: what keeps every portfolio's month from being complete, such as reports the
    worker has still to settle)."""
    pids = sorted(portfolio_ids)
    ledgers = await store.read_ledgers(pids)
    parked = [name_parts(name) for name in await store.read_unpriced()]
    out: list[CloseOutcome] = []
    for pid in pids:
        closed = await closed_records(store, pid)
        if month in closed:
            out.append(CloseOutcome(pid, month, "already_closed"))
            continue
        ledger = ledgers.get(pid, {})
        waiting = [d for p, d in parked if p == pid and d[:7] == month]
        missing = [*missing_in(month, ledger, waiting), *behind]
        if missing and not force:
            out.append(CloseOutcome(pid, month, "refused", tuple(missing)))
            continue
        true_up = open_true_up(book, pid, month, ledger, closed)
        # The invoices that came before the close are matched by it.
        statement = statement_of(true_up, "closed", ledger)
        kept = await waiting_invoices(store, pid, month)
        invoices = waiting_matched(kept, statement, book, ledger)
        ops = [*close_ops(true_up, ledger, missing), *invoices]
        out.append(await _settle_close(store, true_up, ops, missing, checkpoint))
    return out


async def _settle_close(
    store: LedgerStore, true_up: FeeTrueUp, ops: list[Op], missing: list[str], checkpoint: str
) -> CloseOutcome:
    pid, month = true_up.portfolio_id, true_up.month
    result = await store.settle(ops, checkpoint)
    if result.status == "ok":
        return CloseOutcome(pid, month, "closed", tuple(missing), true_up)
    if result.detail.startswith("closed "):
        return CloseOutcome(pid, month, "already_closed")
    why = f"the ledger changed while it was being closed ({result.status}); close again"
    return CloseOutcome(pid, month, "refused", (why,))


def portfolios_to_close(
    book: ScheduleBook,
    with_ledger: Iterable[str],
    month: str,
    agreement: str | None,
    portfolio: str | None,
    partition: str | None,
    partitions: int,
) -> list[str]:
    """The portfolios a close names (one, those an agreement governs, or every one with a
    ledger) whose month `partition` settles."""
    pids = [portfolio] if portfolio is not None else _governed(book, with_ledger, agreement)
    return held_in(book, pids, month, partition, partitions)


def _governed(book: ScheduleBook, with_ledger: Iterable[str], agreement: str | None) -> list[str]:
    pids = sorted(with_ledger)
    if agreement is None:
        return pids
    if agreement not in book.agreements:
        raise DomainError("agreement_id", agreement, "is not on the agreements log")
    return [p for p in pids if (owner := book.owner_of(p)) and owner.agreement_id == agreement]


def worker_behind(log_end: str, checkpoint: str, unsettled: int) -> list[str]:
    """What the fee worker has not done yet, which every month's close waits for."""
    behind = []
    if log_end != checkpoint:
        behind.append(
            f"the fee worker has priced the agreements log to {checkpoint or 'nothing'},"
            f" the log is at {log_end or 'nothing'}"
        )
    if unsettled:
        behind.append(f"the fee worker has {unsettled} report(s) still to settle")
    return behind


def read_close_request(fields: Mapping[bytes, bytes]) -> CloseMonthRequested:
    """The command in an entry of the commands stream, or WireError naming what is wrong."""
    return decode_as(fields, CloseMonthRequested, "commands")


def refusals(request: CloseMonthRequested, outcomes: Iterable[CloseOutcome]) -> list[Op]:
    """A MonthCloseRefused for each portfolio the requested close left open."""
    return [
        Emit("accruals", encode(_refused(request, o)), None)
        for o in outcomes
        if o.status == "refused"
    ]


def _refused(request: CloseMonthRequested, outcome: CloseOutcome) -> MonthCloseRefused:
    key = f"{request.request_id}|{outcome.portfolio_id}"
    return MonthCloseRefused(
        event_id=event_id("MonthCloseRefused", key),
        request_id=request.request_id,
        portfolio_id=outcome.portfolio_id,
        month=outcome.month,
        missing=list(outcome.missing),
    )
