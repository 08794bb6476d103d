"""Closing a month: each portfolio's month fee by its agreement's method, its true-up against
the daily accruals booked in the month, and the one step that closes it (FeeTrueUp and
PeriodClosed emitted, the month marked closed).

A close is refused while the month is not complete (a day no accrual covers, a report waiting
unpriced, reports the fee worker has not settled, an agreements log it has not priced to its
end); forced, it closes anyway and PeriodClosed lists what was missing. A month closes once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import TypeAdapter

from contracts.messages import FeeTrueUp, MonthCatchUp, MonthFeePart, PeriodClosed
from contracts.statement import MonthStatement, PostedChange
from contracts.wire import encode
from services.app.accruals import covered_days, posted_changes
from services.app.ledger import CloseMonth, ExpectEntry, ExpectLength, LedgerEntry, LedgerStore, Op
from services.domain.book import ScheduleBook
from services.domain.errors import DomainError
from services.domain.month import MonthFee, Reported, month_days, month_fee
from services.mapping import schedule_ref

# Deterministic event ids: closing the same month again names the same events.
CLOSE_NAMESPACE = uuid.UUID("0c1d6f9e-3f0a-4a55-9a56-8f4d2b0e7c31")


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


def month_true_up(
    book: ScheduleBook, portfolio_id: str, month: str, ledger: Mapping[str, str]
) -> FeeTrueUp:
    """The month's fee of a portfolio by its agreement's method, beside its daily accruals."""
    owner = book.owner_of(portfolio_id)
    if owner is None:
        raise DomainError("portfolio", portfolio_id, "has no agreement that sets its schedule")
    days = month_days(month)
    entries = [LedgerEntry.from_json(text) for text in ledger.values()]
    reports = [_reported(e) for e in entries]
    reports = [
        r for r in reports if r.as_of <= days[-1] and r.as_of + timedelta(days=r.days) > days[0]
    ]
    booked = sum((Decimal(e.amount) for e in entries if e.as_of[:7] == month), Decimal(0))
    fee = month_fee(
        month,
        owner.fee_method,
        owner.average_over,
        reports,
        lambda on: book.schedule_on(portfolio_id, on),
        book.terms_for(portfolio_id),
        booked,
    )
    return _true_up_event(portfolio_id, owner.agreement_id, owner.currency, fee)


def _reported(entry: LedgerEntry) -> Reported:
    return Reported(date.fromisoformat(entry.as_of), Decimal(entry.net_assets), entry.accrual_days)


def _true_up_event(portfolio_id: str, agreement_id: str, currency: str, fee: MonthFee) -> FeeTrueUp:
    true_up_id = f"{portfolio_id}:{fee.month}"
    parts = [
        MonthFeePart.model_validate(
            {
                "from": p.start,
                "to": p.start + timedelta(days=p.days - 1),
                "days": p.days,
                "average_net_assets": p.average,
                "schedule_ref": None
                if p.answer.version is None
                else schedule_ref(p.answer.version),
                "fee_exact": p.fee_exact,
            }
        )
        for p in fee.parts
    ]
    return FeeTrueUp(
        event_id=_event_id("FeeTrueUp", true_up_id),
        true_up_id=true_up_id,
        portfolio_id=portfolio_id,
        agreement_id=agreement_id,
        month=fee.month,
        method=fee.method.value,
        average_over=fee.average_over.value,
        currency=currency,
        rounding=fee.rounding.name,
        fee=fee.fee,
        fee_exact=fee.fee_exact,
        daily_total=fee.daily_total,
        true_up=fee.true_up,
        parts=parts,
    )


def _event_id(kind: str, key: str) -> str:
    return str(uuid.uuid5(CLOSE_NAMESPACE, f"{kind}|{key}"))


@dataclass(frozen=True, slots=True)
class ClosedRecord:
    """What a month's close booked (kept with the closed month): its fee and true-up, and what
    it booked for earlier closed months (month -> difference)."""

    true_up_id: str
    fee: Decimal
    true_up: Decimal
    catch_ups: dict[str, Decimal] = field(default_factory=dict)
    # The FeeTrueUp the close emitted, as it was (the month statement shows it).
    event: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, true_up: FeeTrueUp) -> ClosedRecord:
        booked = {c.month: c.difference for c in true_up.catch_ups}
        event = true_up.model_dump(mode="json", by_alias=True)
        return cls(true_up.true_up_id, true_up.fee, true_up.true_up, booked, event)

    def to_json(self) -> str:
        return _RECORD.dump_json(self).decode()

    @classmethod
    def from_json(cls, text: str) -> ClosedRecord:
        return _RECORD.validate_json(text)


_RECORD = TypeAdapter(ClosedRecord)


def catch_ups(
    book: ScheduleBook,
    portfolio_id: str,
    month: str,
    ledger: Mapping[str, str],
    closed: Mapping[str, ClosedRecord],
) -> list[MonthCatchUp]:
    """Each earlier closed month whose fee by its method is now other than what was booked for
    it (its close, the changes posted for its days since, the catch-ups later closes booked):
    the difference, to be booked in `month`."""
    out = []
    for earlier in sorted(m for m in closed if m < month):
        now = month_true_up(book, portfolio_id, earlier, ledger)
        since = [r.catch_ups.get(earlier, Decimal(0)) for m, r in closed.items() if m > earlier]
        booked = now.daily_total + closed[earlier].true_up + sum(since, Decimal(0))
        if now.fee != booked:
            difference = now.fee - booked
            out.append(
                MonthCatchUp(month=earlier, fee=now.fee, booked=booked, difference=difference)
            )
    return out


def close_ops(true_up: FeeTrueUp, ledger: Mapping[str, str], missing: list[str]) -> list[Op]:
    """The step that closes the month, held while the month's ledger is as it was read."""
    pid, month = true_up.portfolio_id, true_up.month
    closed = PeriodClosed(
        event_id=_event_id("PeriodClosed", true_up.true_up_id),
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
        CloseMonth(pid, month, ClosedRecord.of(true_up).to_json(), events),
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
    parked = [name.split("|", 1) for name in await store.read_unpriced()]
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
        true_up = month_true_up(book, pid, month, ledger)
        true_up = true_up.model_copy(
            update={"catch_ups": catch_ups(book, pid, month, ledger, closed)}
        )
        out.append(await _settle_close(store, true_up, ledger, missing, checkpoint))
    return out


async def _settle_close(
    store: LedgerStore,
    true_up: FeeTrueUp,
    ledger: Mapping[str, str],
    missing: list[str],
    checkpoint: str,
) -> CloseOutcome:
    pid, month = true_up.portfolio_id, true_up.month
    result = await store.settle(close_ops(true_up, ledger, missing), checkpoint)
    if result.status == "ok":
        return CloseOutcome(pid, month, "closed", tuple(missing), true_up)
    if result.detail.startswith("closed "):
        return CloseOutcome(pid, month, "already_closed")
    why = f"the ledger changed while it was being closed ({result.status}); close again"
    return CloseOutcome(pid, month, "refused", (why,))


async def closed_records(store: LedgerStore, portfolio_id: str) -> dict[str, ClosedRecord]:
    """The portfolio's closed months and what each close booked."""
    records = await store.closed_months(portfolio_id)
    return {month: ClosedRecord.from_json(text) for month, text in records.items()}


async def month_statement(
    book: ScheduleBook, store: LedgerStore, portfolio_id: str, month: str
) -> MonthStatement:
    """The month as a fund accountant reviews it: as closed, or (open) as the ledger stands."""
    ledger = (await store.read_ledgers([portfolio_id])).get(portfolio_id, {})
    closed = await closed_records(store, portfolio_id)
    if month in closed:
        true_up, status = FeeTrueUp.model_validate(closed[month].event), "closed"
    else:
        true_up, status = month_true_up(book, portfolio_id, month, ledger), "open"
        true_up = true_up.model_copy(
            update={"catch_ups": catch_ups(book, portfolio_id, month, ledger, closed)}
        )
    entries = [LedgerEntry.from_json(text) for text in ledger.values()]
    posted = [
        PostedChange.model_validate({"as_of": e.as_of, "delta": delta, "reason": reason})
        for booked_in, e, delta, reason in posted_changes(entries)
        if booked_in == month
    ]
    closing = true_up.fee + sum((p.delta for p in posted), Decimal(0))
    closing += sum((c.difference for c in true_up.catch_ups), Decimal(0))
    return MonthStatement(
        portfolio_id=portfolio_id,
        agreement_id=true_up.agreement_id,
        month=month,
        status=status,
        currency=true_up.currency,
        method=true_up.method,
        average_over=true_up.average_over,
        parts=true_up.parts,
        daily_total=true_up.daily_total,
        fee=true_up.fee,
        true_up=true_up.true_up,
        catch_ups=posted,
        month_catch_ups=true_up.catch_ups,
        closing_fee=closing,
    )
