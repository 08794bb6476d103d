"""A break's explanations judge amounts with the agreement's own invoice tolerance, as the match
does: under a $100 tolerance, an invoice $50 from the month's fee at a replaced schedule is that
schedule's fee (the default $0.01 or 0.01%, about $27 here, would say no schedule matches)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from contracts.messages import InvoiceReceived
from contracts.wire import encode
from services.app.close import close_month
from services.app.invoices import receive_invoices
from services.app.pricing import Pricer
from services.domain.month import month_days
from tests.pricing_world import RATE_1, RATE_2, Entry, World

JUNE = month_days("2024-06")


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def invoice(amount: Decimal) -> Entry:
    message = InvoiceReceived(
        invoice_id="inv-1", agreement_id="AG", portfolio_id="P1", month="2024-06", amount=amount
    )
    return Entry("1-0", {k.encode(): v.encode() for k, v in encode(message).items()})


async def outcome(w: World, entry: Entry) -> dict[str, Any]:
    w.ledger.pending.add(entry.entry_id)
    checkpoint = await w.ledger.checkpoint()
    result = await receive_invoices(
        w.book, w.ledger, Pricer(w.book, "invoices"), [entry], checkpoint
    )
    assert result.status == "ok"
    (out,) = w.events("invoice_outcomes")
    return out


async def test_a_break_is_explained_within_the_agreements_own_tolerance() -> None:
    w = World(fee_method="average_daily_net_assets", invoice_tolerance="100")
    w.amend(1, date(2024, 1, 1), RATE_1, "add")
    w.amend(2, date(2024, 6, 1), RATE_2, "revise")  # 0.50% from June
    await w.advance()
    await w.settle([w.report(d, "365000000") for d in JUNE])
    checkpoint = await w.ledger.checkpoint()
    (closed,) = await close_month(
        w.book, w.ledger, ["P1"], "2024-06", checkpoint=checkpoint, behind=[]
    )
    assert closed.status == "closed"
    old = cents(Decimal(365_000_000) * Decimal("0.009") * 30 / 365)  # No. 1's 0.90%: 270,000
    broken = await outcome(w, invoice(old + 50))
    assert (broken["_type"], broken["tolerance"]) == ("InvoiceBreak", "100")
    (why,) = broken["explanations"]
    assert "Amendment No. 1" in why and "0.90%" in why and "Amendment No. 2" in why
