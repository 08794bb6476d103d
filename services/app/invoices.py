"""Invoices: the adviser's invoice of a portfolio's month, matched against what the closed month
books (its closing fee). Within tolerance (by default $0.01 or 0.01% of the fee, the larger) it
is `InvoiceMatched`; otherwise `InvoiceBreak`, with the explanations the service can find: the
catch-ups booked in the month for earlier months' days, and a schedule on record whose month fee
is what the invoice asks (the rate the invoice implies, compared with every version).

An invoice whose month is not closed yet is kept, and matched by the month's close.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from contracts.messages import InvoiceBreak, InvoiceMatched, InvoiceReceived
from contracts.statement import MonthStatement
from contracts.wire import decode_as, encode
from services.app.accruals import reported_of
from services.app.ledger import LedgerEntry, LedgerStore, SettleResult
from services.app.months import closed_records, month_statement
from services.app.operations import (
    Ack,
    DropInvoice,
    Emit,
    HoldInvoice,
    Op,
    closed_field,
    invoice_field,
)
from services.app.pricing import Incoming, Pricer, refusal
from services.domain.agreement import InvoiceTolerance
from services.domain.book import ScheduleBook
from services.domain.errors import DomainError
from services.domain.fees import FEE_CONTEXT
from services.domain.month import AverageOver, FeeMethod, Reported, month_days, month_fee
from services.domain.timeline import ScheduleAnswer, ScheduleVersion, VersionKind

INVOICE_NAMESPACE = uuid.UUID("5b0f8f7e-6a8c-4a0e-9d7e-2c6f1f3a9b41")
CENT = Decimal("0.01")


def tolerance(expected: Decimal, rule: InvoiceTolerance = InvoiceTolerance()) -> Decimal:
    """How far an invoice may be from the month's fee and still match: the agreement's amount
    or its percent of the fee, the larger (by default $0.01 or 0.01%)."""
    share = (abs(expected) * rule.pct / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return max(rule.amount, share)


def reconcile(
    invoice: InvoiceReceived,
    month: MonthStatement,
    book: ScheduleBook,
    ledger: Mapping[str, str],
) -> InvoiceMatched | InvoiceBreak:
    """The invoice judged against its closed month (`month`, the month's statement)."""
    expected = month.closing_fee
    owner = book.owner_of(invoice.portfolio_id)
    rule = InvoiceTolerance() if owner is None else owner.invoice_tolerance
    allowed = tolerance(expected, rule)
    fields = {
        "event_id": str(uuid.uuid5(INVOICE_NAMESPACE, invoice.invoice_id)),
        "invoice_id": invoice.invoice_id,
        "agreement_id": invoice.agreement_id,
        "portfolio_id": invoice.portfolio_id,
        "month": invoice.month,
        "currency": invoice.currency,
        "amount": invoice.amount,
        "expected": expected,
        "difference": invoice.amount - expected,
        "tolerance": allowed,
    }
    if invoice.currency == month.currency and abs(invoice.amount - expected) <= allowed:
        return InvoiceMatched.model_validate(fields)
    day_count, _ = book.terms_for(invoice.portfolio_id)
    implied = implied_rate(invoice.amount, month, day_count.year_basis(month_days(month.month)[0]))
    explanations = _explanations(invoice, month, book, ledger, implied, rule)
    return InvoiceBreak.model_validate(
        fields | {"implied_rate_pct": implied, "explanations": explanations}
    )


def implied_rate(amount: Decimal, month: MonthStatement, basis: int) -> Decimal | None:
    """The annual rate (percent) that charges `amount` on the month's average net assets, by
    the month's method, on a year of `basis` days (None: no assets to average)."""
    averaged = [(p.average_net_assets, p.days) for p in month.parts if p.average_net_assets]
    days = len(month_days(month.month))
    if not averaged:
        return None
    with localcontext(FEE_CONTEXT):
        average = sum((a * n for a, n in averaged), Decimal(0)) / sum(n for _, n in averaged)
        if month.method == FeeMethod.MONTHLY_TWELFTH.value:
            rate = amount * 12 / average * 100
        else:
            rate = amount * basis / days / average * 100
    return rate.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _explanations(
    invoice: InvoiceReceived,
    month: MonthStatement,
    book: ScheduleBook,
    ledger: Mapping[str, str],
    implied: Decimal | None,
    rule: InvoiceTolerance,
) -> list[str]:
    """What may explain the break: an amount is what the invoice asks within the agreement's
    tolerance (`rule`), as the match itself is judged."""
    out: list[str] = []
    if invoice.currency != month.currency:
        out.append(f"the invoice is in {invoice.currency}, the agreement in {month.currency}")
    own = month.fee  # the closing fee is it and the catch-ups booked in the month
    caught_up = month.closing_fee - own
    if caught_up and abs(invoice.amount - own) <= tolerance(own, rule):
        days = sorted(c.as_of.isoformat() for c in month.catch_ups)
        which = f" (for {days[0]} .. {days[-1]})" if days else ""
        out.append(
            f"the invoice leaves out the catch-ups of {caught_up} booked in {month.month} for"
            f" days of earlier, closed months{which}: the month's own fee is {own}"
        )
    for candidate in (invoice.amount, own):
        out += _schedules_charging(candidate, month, book, ledger, rule)
    if not out:
        rate = "" if implied is None else f" implies {implied}% a year on average net assets and"
        out.append(f"the invoice{rate} matches no schedule on record for {month.month}")
    return list(dict.fromkeys(out))


def _schedules_charging(
    amount: Decimal,
    month: MonthStatement,
    book: ScheduleBook,
    ledger: Mapping[str, str],
    rule: InvoiceTolerance,
) -> list[str]:
    """The schedule versions on record (not the ones in force) whose month fee is `amount`,
    within the agreement's tolerance (`rule`)."""
    pid = month.portfolio_id
    timeline = book.timelines.get(pid)
    if timeline is None:
        return []
    in_force = {p.schedule_ref.event_id for p in month.parts if p.schedule_ref is not None}
    reports = [reported_of(LedgerEntry.from_json(text)) for text in ledger.values()]
    out = []
    for version in timeline.versions:
        if version.kind is not VersionKind.SET or version.schedule is None:
            continue
        if version.provenance.event_id in in_force:
            continue
        fee = _month_fee_on(version, month, book, reports)
        if abs(fee - amount) <= tolerance(amount, rule):
            out.append(_named(version, month))
    return out


def _month_fee_on(
    version: ScheduleVersion, month: MonthStatement, book: ScheduleBook, reports: list[Reported]
) -> Decimal:
    """The month's fee by its method, had `version`'s schedule been in force all month."""

    def on(day: date) -> ScheduleAnswer:
        return ScheduleAnswer(month.portfolio_id, day, version.schedule, version)

    method = FeeMethod(month.method)
    if method is FeeMethod.DAILY:  # near enough the sum of the days, to tell schedules apart
        method = FeeMethod.AVERAGE_DAILY_NET_ASSETS
    over = AverageOver(month.average_over)
    terms = book.terms_for(month.portfolio_id)
    return month_fee(month.month, method, over, reports, on, terms, Decimal(0)).fee


def _named(version: ScheduleVersion, month: MonthStatement) -> str:
    p = version.provenance
    assert version.schedule is not None
    in_force = [q.schedule_ref for q in month.parts if q.schedule_ref is not None]
    now = ", ".join(
        f"Amendment No. {r.amendment_number} (effective {r.effective_date})" for r in in_force
    )
    return (
        f"the invoice is the month's fee at {version.schedule.describe()}, the schedule of"
        f" Amendment No. {p.amendment_number} (effective {p.effective_date}); the schedule in"
        f" force is {now or 'none'}"
    )


async def receive_invoices(
    book: ScheduleBook,
    store: LedgerStore,
    pricer: Pricer,
    entries: Sequence[Incoming],
    checkpoint: str,
) -> SettleResult:
    """Each invoice matched against its closed month, or kept until the month closes (an
    entry that is not an invoice is dead-lettered), in one step that acknowledges them all,
    while the ledger is priced against `checkpoint` (the log position `book` has folded)."""
    ops: list[Op] = []
    for entry in entries:
        if not entry.fields:
            ops.append(Ack(entry.entry_id))
            continue
        try:
            invoice = decode_as(entry.fields, InvoiceReceived, "invoices")
            ops.append(await _invoice_op(book, store, invoice, entry.entry_id))
        except Exception as exc:
            code, reason = refusal(exc)
            ops.append(pricer.reject(entry, code, reason))
    return await store.settle(ops, checkpoint)


async def _invoice_op(
    book: ScheduleBook, store: LedgerStore, invoice: InvoiceReceived, ack: str
) -> Op:
    pid, month = invoice.portfolio_id, invoice.month
    if pid not in book.timelines:
        raise DomainError("portfolio_id", pid, "is on no recorded agreement")
    if month not in await closed_records(store, pid):
        field = invoice_field(pid, month, invoice.invoice_id)
        return HoldInvoice(field, invoice.model_dump_json(), ack, closed_field(pid, month))
    ledger = (await store.read_ledgers([pid])).get(pid, {})
    statement = await month_statement(book, store, pid, month)
    return Emit("invoice_outcomes", encode(reconcile(invoice, statement, book, ledger)), ack)


def waiting_matched(
    waiting: Mapping[str, InvoiceReceived],
    statement: MonthStatement,
    book: ScheduleBook,
    ledger: Mapping[str, str],
) -> list[Op]:
    """The invoices kept for a month (by the name each is kept under), matched by its close
    (and let go of)."""
    ops: list[Op] = []
    for field, invoice in sorted(waiting.items()):
        outcome = encode(reconcile(invoice, statement, book, ledger))
        ops += [Emit("invoice_outcomes", outcome, None), DropInvoice(field)]
    return ops
