"""Invoices matched against closed months (services.app.invoices) on the in-memory ledger: one
that ties, one a cent off, one at a schedule the log has replaced (a break naming it and the
rate the invoice implies), one for a month not closed yet (matched by its close), and an entry
that is not an invoice (dead-lettered)."""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from contracts.messages import InvoiceReceived
from contracts.wire import encode
from services.app.close import close_month
from services.app.invoices import receive_invoices, tolerance
from services.app.months import month_statement
from services.app.operations import invoice_field, invoice_prefix
from services.app.pricing import Pricer
from services.domain.month import month_days
from tests.pricing_world import RATE_1, RATE_2, Entry, World

JUNE, JULY = month_days("2024-06"), month_days("2024-07")


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def received(
    invoice_id: str, portfolio_id: str, month: str, amount: Decimal | str
) -> InvoiceReceived:
    return InvoiceReceived(
        invoice_id=invoice_id,
        agreement_id="AG",
        portfolio_id=portfolio_id,
        month=month,
        amount=Decimal(amount),
    )


def invoice(n: int, month: str, amount: Decimal | str) -> Entry:
    return as_entry(received(f"inv-{n}", "P1", month, amount), n)


def as_entry(message: InvoiceReceived, n: int) -> Entry:
    return Entry(f"{n}-0", {k.encode(): v.encode() for k, v in encode(message).items()})


async def priced(months: dict[str, list[date]]) -> World:
    """Each portfolio added at 0.90% from January (in turn, one amendment each) and its days
    priced on $365 million."""
    w = World(fee_method="average_daily_net_assets")
    for number, (pid, days) in enumerate(months.items(), start=1):
        w.portfolio_id = pid
        w.amend(number, date(2024, 1, 1), RATE_1, "add")
        await w.advance()
        await w.settle([w.report(d, "365000000") for d in days])
    return w


async def world() -> World:
    w = World(fee_method="average_daily_net_assets")
    w.amend(1, date(2024, 1, 1), RATE_1, "add")
    w.amend(2, date(2024, 6, 1), RATE_2, "revise")  # 0.50% from June
    await w.advance()
    await w.settle([w.report(d, "365000000") for d in JUNE])
    (closed,) = await close_month(
        w.book, w.ledger, ["P1"], "2024-06", checkpoint=await w.ledger.checkpoint(), behind=[]
    )
    assert closed.status == "closed"
    return w


async def receive(w: World, *entries: Entry) -> list[dict[str, Any]]:
    w.ledger.pending.update(e.entry_id for e in entries)
    pricer = Pricer(w.book, "invoices")
    checkpoint = await w.ledger.checkpoint()
    result = await receive_invoices(w.book, w.ledger, pricer, entries, checkpoint)
    assert result.status == "ok"
    assert not w.ledger.pending & {e.entry_id for e in entries}  # every one acknowledged
    return w.events("invoice_outcomes")


async def test_an_invoice_within_tolerance_matches_and_one_at_a_replaced_rate_breaks() -> None:
    w = await world()
    # June at 0.50% (Amendment No. 2) on $365 million; the invoice at No. 1's 0.90% breaks.
    fee = cents(Decimal(365_000_000) * Decimal("0.005") * 30 / 365)
    old = cents(Decimal(365_000_000) * Decimal("0.009") * 30 / 365)
    out = await receive(
        w, invoice(1, "2024-06", fee), invoice(2, "2024-06", fee + Decimal("0.01")),
        invoice(3, "2024-06", old),
    )  # fmt: skip
    matched, cent_off, old_rate = out
    assert (matched["_type"], matched["difference"]) == ("InvoiceMatched", "0.00")
    assert (cent_off["_type"], cent_off["difference"]) == ("InvoiceMatched", "0.01")
    assert old_rate["_type"] == "InvoiceBreak"
    assert Decimal(old_rate["difference"]) == old - fee
    assert Decimal(old_rate["implied_rate_pct"]) == Decimal("0.9000")
    (why,) = old_rate["explanations"]
    assert "Amendment No. 1" in why and "0.90%" in why and "Amendment No. 2" in why
    lines = (await month_statement(w.book, w.ledger, "P1", "2024-06")).invoices
    assert [(i.invoice_id, i.status) for i in lines] == [
        ("inv-1", "matched"),
        ("inv-2", "matched"),
        ("inv-3", "break"),
    ]
    assert lines[2].explanations == [why]


async def test_an_invoice_before_its_close_waits_and_the_close_matches_it() -> None:
    w = await world()
    await w.settle([w.report(d, "365000000") for d in JULY])
    fee = cents(Decimal(365_000_000) * Decimal("0.005") * 31 / 365)
    assert await receive(w, invoice(4, "2024-07", fee)) == []
    assert list(w.ledger.invoices) == [invoice_field("P1", "2024-07", "inv-4")]
    (waiting,) = (await month_statement(w.book, w.ledger, "P1", "2024-07")).invoices
    assert (waiting.invoice_id, waiting.status) == ("inv-4", "waiting")
    await close_month(
        w.book, w.ledger, ["P1"], "2024-07", checkpoint=await w.ledger.checkpoint(), behind=[]
    )
    (matched,) = w.events("invoice_outcomes")
    assert matched["_type"] == "InvoiceMatched" and matched["invoice_id"] == "inv-4"
    assert w.ledger.invoices == {}
    (line,) = (await month_statement(w.book, w.ledger, "P1", "2024-07")).invoices
    assert (line.status, line.amount) == ("matched", fee)


async def test_what_is_not_an_invoice_is_dead_lettered_and_the_rest_goes_on() -> None:
    w = await world()
    bad = Entry("9-0", {b"type": b"InvoiceReceived", b"data": b'{"invoice_id": 5}'})
    fee = cents(Decimal(365_000_000) * Decimal("0.005") * 30 / 365)
    (matched,) = await receive(w, bad, invoice(6, "2024-06", fee))
    assert matched["_type"] == "InvoiceMatched"
    (letter,) = w.events("dead_letters")
    assert letter["entry_id"] == "9-0" and letter["source_stream"] == "invoices"
    assert json.loads(letter["fields"]["data"]) == {"invoice_id": 5}


def test_the_tolerance_is_a_cent_or_a_hundredth_of_a_percent_the_larger() -> None:
    assert tolerance(Decimal("50.00")) == Decimal("0.01")
    with localcontext() as ctx:
        ctx.prec = 28
        assert tolerance(Decimal("532191.78")) == Decimal("53.22")


async def test_each_agreement_says_its_own_tolerance() -> None:
    fee = cents(Decimal(365_000_000) * Decimal("0.005") * 30 / 365)  # 150,000.00: 0.01% = 15
    strict = await world()
    (broken,) = await receive(strict, invoice(7, "2024-06", fee + 20))
    assert (broken["_type"], broken["tolerance"]) == ("InvoiceBreak", "15.00")
    lenient = World(fee_method="average_daily_net_assets", invoice_tolerance="100")
    lenient.amend(1, date(2024, 1, 1), RATE_2, "add")
    await lenient.advance()
    await lenient.settle([lenient.report(d, "365000000") for d in JUNE])
    checkpoint = await lenient.ledger.checkpoint()
    await close_month(
        lenient.book, lenient.ledger, ["P1"], "2024-06", checkpoint=checkpoint, behind=[]
    )
    (matched,) = await receive(lenient, invoice(8, "2024-06", fee + 20))
    assert (matched["_type"], matched["tolerance"]) == ("InvoiceMatched", "100")


async def test_a_close_matches_only_its_own_portfolio_s_invoices() -> None:
    # Portfolio "P1|2024-06"'s July invoice is kept under "P1|2024-06|2024-07 inv-9", which
    # starts as the names of P1's June invoices do: June's close must leave it alone.
    w = await priced({"P1": JUNE})
    other = received("inv-9", "P1|2024-06", "2024-07", "10")
    name = invoice_field(other.portfolio_id, other.month, other.invoice_id)
    assert name.startswith(invoice_prefix("P1", "2024-06"))
    w.ledger.invoices[name] = other.model_dump_json()
    assert (await month_statement(w.book, w.ledger, "P1", "2024-06")).invoices == []
    (closed,) = await close_month(
        w.book, w.ledger, ["P1"], "2024-06", checkpoint=await w.ledger.checkpoint(), behind=[]
    )
    assert closed.status == "closed"
    assert w.events("invoice_outcomes") == []
    assert list(w.ledger.invoices) == [name]


async def test_invoices_whose_ids_hold_the_separator_are_each_kept_and_matched() -> None:
    # Portfolio "P1|2024-06"'s July invoice "x" and P1's June invoice "2024-07|x": under
    # portfolio|month|invoice id both were "P1|2024-06|2024-07|x", and one replaced the other.
    w = await priced({"P1": JUNE, "P1|2024-06": JULY})
    june = received("2024-07|x", "P1", "2024-06", "1")
    july = received("x", "P1|2024-06", "2024-07", "1")
    assert await receive(w, as_entry(june, 1), as_entry(july, 2)) == []
    assert len(w.ledger.invoices) == 2
    for pid, month in (("P1", "2024-06"), ("P1|2024-06", "2024-07")):
        checkpoint = await w.ledger.checkpoint()
        await close_month(w.book, w.ledger, [pid], month, checkpoint=checkpoint, behind=[])
    outcomes = w.events("invoice_outcomes")
    assert sorted((o["portfolio_id"], o["invoice_id"]) for o in outcomes) == [
        ("P1", "2024-07|x"),
        ("P1|2024-06", "x"),
    ]
    assert w.ledger.invoices == {}
