"""A portfolio's month: its fee by the agreement's method beside its daily accruals (the
FeeTrueUp a close emits, and keeps with the closed month), the
catch-ups a later close books for it, and the month statement a fund accountant reviews.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from contracts.messages import FeeTrueUp, InvoiceReceived, MonthCatchUp, MonthFeePart
from contracts.statement import InvoiceLine, MonthStatement, PostedChange
from services.app.accruals import posted_changes, reported_of
from services.app.ledger import LedgerEntry, LedgerStore
from services.domain.book import ScheduleBook
from services.domain.errors import DomainError
from services.domain.month import MonthFee, month_days, month_fee
from services.mapping import amendment_ref, schedule_ref

# Deterministic event ids: closing the same month again names the same events.
MONTH_NAMESPACE = uuid.UUID("0c1d6f9e-3f0a-4a55-9a56-8f4d2b0e7c31")


def event_id(kind: str, key: str) -> str:
    return str(uuid.uuid5(MONTH_NAMESPACE, f"{kind}|{key}"))


def month_true_up(
    book: ScheduleBook, portfolio_id: str, month: str, ledger: Mapping[str, str]
) -> FeeTrueUp:
    """The month's fee of a portfolio by its agreement's method, beside its daily accruals."""
    owner = book.owner_of(portfolio_id)
    if owner is None:
        raise DomainError("portfolio", portfolio_id, "has no agreement that sets its schedule")
    days = month_days(month)
    entries = [LedgerEntry.from_json(text) for text in ledger.values()]
    reports = [reported_of(e) for e in entries]
    reports = [
        r for r in reports if r.as_of <= days[-1] and r.as_of + timedelta(days=r.days) > days[0]
    ]
    booked = sum((Decimal(e.amount) for e in entries if e.as_of[:7] == month), Decimal(0))
    method = owner.fee_method_on(days[0])  # the method in force when the month begins
    fee = month_fee(
        month,
        method.method,
        method.average_over,
        reports,
        lambda on: book.schedule_on(portfolio_id, on),
        book.terms_for(portfolio_id),
        booked,
    )
    event = _true_up_event(portfolio_id, owner.agreement_id, owner.currency, fee)
    if method.provenance is None:
        return event
    return event.model_copy(update={"method_ref": amendment_ref(method.provenance)})


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
        event_id=event_id("FeeTrueUp", true_up_id),
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


def catch_ups(
    book: ScheduleBook,
    portfolio_id: str,
    month: str,
    ledger: Mapping[str, str],
    closed: Mapping[str, FeeTrueUp],
) -> list[MonthCatchUp]:
    """Each earlier closed month whose fee by its method is now other than what was booked for
    it (its close, the changes posted for its days since, the catch-ups later closes booked):
    the difference, to be booked in `month`."""
    out = []
    for earlier in sorted(m for m in closed if m < month):
        now = month_true_up(book, portfolio_id, earlier, ledger)
        since = [
            c.difference
            for m, r in closed.items()
            if m > earlier
            for c in r.catch_ups
            if c.month == earlier
        ]
        booked = now.daily_total + closed[earlier].true_up + sum(since, Decimal(0))
        if now.fee != booked:
            out.append(
                MonthCatchUp(month=earlier, fee=now.fee, booked=booked, difference=now.fee - booked)
            )
    return out


def open_true_up(
    book: ScheduleBook,
    portfolio_id: str,
    month: str,
    ledger: Mapping[str, str],
    closed: Mapping[str, FeeTrueUp],
) -> FeeTrueUp:
    """An open month's true-up as its close would book it: with the catch-ups of the earlier
    closed months."""
    true_up = month_true_up(book, portfolio_id, month, ledger)
    booked = catch_ups(book, portfolio_id, month, ledger, closed)
    return true_up.model_copy(update={"catch_ups": booked})


async def closed_records(store: LedgerStore, portfolio_id: str) -> dict[str, FeeTrueUp]:
    """The portfolio's closed months and what each close booked: the FeeTrueUp it emitted
    (kept with the closed month)."""
    records = await store.closed_months(portfolio_id)
    return {month: FeeTrueUp.model_validate_json(text) for month, text in records.items()}


async def month_statement(
    book: ScheduleBook, store: LedgerStore, portfolio_id: str, month: str
) -> MonthStatement:
    """The month as a fund accountant reviews it: as closed, or (open) as the ledger stands."""
    ledger = (await store.read_ledgers([portfolio_id])).get(portfolio_id, {})
    closed = await closed_records(store, portfolio_id)
    if month in closed:
        found = statement_of(closed[month], "closed", ledger)
    else:
        true_up = open_true_up(book, portfolio_id, month, ledger, closed)
        found = statement_of(true_up, "open", ledger)
    return found.model_copy(update={"invoices": await _invoices(store, portfolio_id, month)})


async def _invoices(store: LedgerStore, portfolio_id: str, month: str) -> list[InvoiceLine]:
    """The month's invoices: matched or broken (their outcome), or still waiting."""
    lines = [
        InvoiceLine(
            invoice_id=o["invoice_id"],
            amount=o["amount"],
            status="matched" if o["type"] == "InvoiceMatched" else "break",
            difference=o["difference"],
            explanations=o.get("explanations", []),
        )
        for o in await store.invoice_outcomes(portfolio_id, month)
    ]
    for waiting in (await waiting_invoices(store, portfolio_id, month)).values():
        lines.append(
            InvoiceLine(invoice_id=waiting.invoice_id, amount=waiting.amount, status="waiting")
        )
    return lines


async def waiting_invoices(
    store: LedgerStore, portfolio_id: str, month: str
) -> dict[str, InvoiceReceived]:
    """The invoices kept for the portfolio's month until its close, by the name each is kept
    under. The store finds the names by their start (invoice_prefix), which another
    portfolio's also has when its id is this one's, '|' and a month: the invoice says whose."""
    kept = await store.waiting_invoices(portfolio_id, month)
    read = {name: InvoiceReceived.model_validate_json(text) for name, text in kept.items()}
    return {n: i for n, i in read.items() if (i.portfolio_id, i.month) == (portfolio_id, month)}


def statement_of(
    true_up: FeeTrueUp, status: Literal["open", "closed"], ledger: Mapping[str, str]
) -> MonthStatement:
    """The month statement of a month's true-up, with the catch-ups its ledger books in it."""
    month, portfolio_id = true_up.month, true_up.portfolio_id
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
