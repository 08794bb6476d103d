"""Closing a month (services.app.close) on the in-memory ledger: the true-up by the agreement's
method against an independent calculation, a close refused while a day is missing (the day in
the reason) and forced (PeriodClosed says what was missing), and a month closed only once."""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest

from services.app.accruals import statement
from services.app.close import close_month
from services.app.months import month_statement
from services.domain.month import month_days
from tests.pricing_world import RATE_1, RATE_2, World

ADNA = {"fee_method": "average_daily_net_assets"}
JUNE = month_days("2024-06")


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def june_world(days: list[date], **terms: str) -> World:
    w = World(**terms)
    w.amend(1, date(2024, 1, 1), RATE_1, "add")
    await w.advance()
    # $100 million on the first half of June, $300 million after.
    await w.settle([w.report(d, "100000000" if d.day <= 15 else "300000000") for d in days])
    return w


async def close(w: World, force: bool = False, behind: list[str] | None = None) -> list:  # type: ignore[type-arg]
    checkpoint = await w.ledger.checkpoint()
    pids = [w.portfolio_id]
    return await close_month(
        w.book, w.ledger, pids, "2024-06", checkpoint=checkpoint, behind=behind or [], force=force
    )


async def test_the_true_up_is_the_months_fee_by_its_method_less_what_was_accrued() -> None:
    w = await june_world(JUNE, **ADNA)
    (outcome,) = await close(w)
    assert outcome.status == "closed" and outcome.true_up is not None
    with localcontext() as ctx:
        ctx.prec = 60
        average = (Decimal(100_000_000) * 15 + Decimal(300_000_000) * 15) / 30
        fee = cents(average * Decimal("0.009") * 30 / 365)
    booked = sum(w.amounts().values(), Decimal(0))
    true_up = outcome.true_up
    assert (true_up.fee, true_up.daily_total, true_up.true_up) == (fee, booked, fee - booked)
    assert true_up.method == "average_daily_net_assets"
    emitted = [e for e in w.events("accruals") if e["_type"] in ("FeeTrueUp", "PeriodClosed")]
    assert [e["_type"] for e in emitted] == ["FeeTrueUp", "PeriodClosed"]
    assert emitted[1]["true_up_id"] == "P1:2024-06" and "missing" not in emitted[1]
    # Closing again changes nothing.
    (again,) = await close(w)
    assert again.status == "already_closed"
    assert len(w.events("accruals")) == len(JUNE) + 2


async def test_under_the_daily_method_the_true_up_is_zero() -> None:
    w = await june_world(JUNE)
    (outcome,) = await close(w)
    assert outcome.true_up is not None and outcome.true_up.true_up == 0


async def test_a_missing_day_refuses_the_close_naming_it_and_force_records_it() -> None:
    w = await june_world([d for d in JUNE if d.day != 12], **ADNA)
    (refused,) = await close(w)
    assert refused.status == "refused"
    assert refused.missing == ("2024-06-12: no accrual covers it",)
    assert w.ledger.closed == {}
    (forced,) = await close(w, force=True)
    assert forced.status == "closed"
    closed = json.loads(w.ledger.streams["accruals"][-1]["data"])
    assert closed["forced"] is True and closed["missing"] == ["2024-06-12: no accrual covers it"]


@pytest.mark.parametrize("portfolio_id", ["P1", "FUND|A"])
async def test_reports_still_parked_in_the_month_refuse_the_close(portfolio_id: str) -> None:
    """The schedule starts on the 16th: the first half's reports wait unpriced, and the month
    is not complete, even though every day from the first accrued one is covered (an id may
    hold the '|' that joins it to the day in the parked report's name)."""
    w = World(portfolio_id)
    w.amend(1, date(2024, 6, 16), RATE_1, "add")
    await w.advance()
    await w.settle([w.report(d, "100000000") for d in JUNE])
    assert len(w.entry_texts()) == 15 and len(w.ledger.unpriced) == 15
    (refused,) = await close(w)
    assert refused.status == "refused"
    assert refused.missing == tuple(
        f"2024-06-{d:02d}: a report waits unpriced (no schedule)" for d in range(1, 16)
    )


async def test_a_worker_behind_refuses_every_close() -> None:
    w = await june_world(JUNE, **ADNA)
    (refused,) = await close(w, behind=["the fee worker has 3 report(s) still to settle"])
    assert refused.status == "refused" and "3 report(s)" in refused.missing[0]


async def test_the_last_days_of_the_month_not_yet_reported_are_missing() -> None:
    w = await june_world(JUNE[:28], **ADNA)
    (refused,) = await close(w)
    assert refused.missing == (
        "2024-06-29: no accrual covers it",
        "2024-06-30: no accrual covers it",
    )


async def test_after_a_close_late_knowledge_is_booked_in_the_first_open_month() -> None:
    w = await june_world(JUNE)
    (closed,) = await close(w)
    assert closed.true_up is not None
    as_closed = statement("P1", w.entry_texts(), [], JUNE[0], JUNE[-1], {"2024-06"}).months[0]
    w.amend(2, date(2024, 6, 20), RATE_2, "revise")  # learned after June was closed
    await w.advance()
    await w.settle([w.report(JUNE[3], "200000000", revision=1)])  # a June report revised
    adjusted = [e for e in w.events("accruals") if e["_type"] == "FeeAdjusted"]
    assert len(adjusted) == 12  # June 20-30, and June 4
    assert {e["posted_in"] for e in adjusted} == {"2024-07"}
    assert {e["as_of"][:7] for e in adjusted} == {"2024-06"}  # the day each concerns
    after = statement("P1", w.entry_texts(), [], JUNE[0], date(2024, 7, 31), {"2024-06"})
    june, july = after.months
    # June reads as it was closed; the changes are July's catch-ups.
    assert {k: june[k] for k in ("accrued", "adjustments", "amount", "closed")} == {
        k: as_closed[k] for k in ("accrued", "adjustments", "amount", "closed")
    }
    assert june["closed"] is True and july["closed"] is False
    deltas = sum(Decimal(e["delta"]) for e in adjusted)
    assert (
        Decimal(july["adjustments"])
        == deltas
        == sum(Decimal(c["delta"]) for c in july["catch_ups"])
    )
    assert sum(w.amounts().values()) == Decimal(june["amount"]) + Decimal(july["amount"])


async def test_a_month_closed_after_a_change_was_planned_refuses_the_change() -> None:
    w = await june_world(JUNE)
    w.amend(2, date(2024, 6, 20), RATE_2, "revise")
    stale = w.pricer.plan_advance(
        w.pricer.affected(await w.ledger.checkpoint() or None),
        await w.ledger.read_ledgers(["P1"]),
        {},
    )  # planned while June was open
    await close(w)
    result = await w.ledger.settle(stale, await w.ledger.checkpoint(), "9-0")
    assert result.status == "conflict" and result.detail == "closed P1|2024-06"
    await w.advance()  # planned again, knowing June is closed
    assert {e.get("posted_in") for e in w.events("accruals") if e["_type"] == "FeeAdjusted"} == {
        "2024-07"
    }


JULY = month_days("2024-07")


async def test_the_next_close_books_what_a_closed_months_method_fee_now_differs_by() -> None:
    w = await june_world(JUNE, **ADNA)
    (june,) = await close(w)
    assert june.true_up is not None
    w.amend(2, date(2024, 6, 20), RATE_2, "revise")  # learned after June was closed
    await w.advance()
    await w.settle([w.report(d, "300000000") for d in JULY])
    checkpoint = await w.ledger.checkpoint()
    (july,) = await close_month(
        w.book, w.ledger, ["P1"], "2024-07", checkpoint=checkpoint, behind=[]
    )
    assert july.status == "closed" and july.true_up is not None
    posted = sum(
        Decimal(e["delta"])
        for e in w.events("accruals")
        if e["_type"] == "FeeAdjusted" and e["posted_in"] == "2024-07"
    )
    (catch_up,) = july.true_up.catch_ups
    # June recomputed by hand, split on the 20th, each part on its own average: June 1-19
    # (15 days at $100M, 4 at $300M) at 0.90%, June 20-30 ($300M) at 0.50%.
    with localcontext() as ctx:
        ctx.prec = 60
        first = (Decimal(100_000_000) * 15 + Decimal(300_000_000) * 4) / 19
        now = cents(
            (first * Decimal("0.009") * 19 + Decimal(300_000_000) * Decimal("0.005") * 11) / 365
        )
    assert catch_up.month == "2024-06" and catch_up.fee == now
    assert posted + catch_up.difference == now - june.true_up.fee
    # A later close finds June fully booked: nothing more for it.
    await w.settle([w.report(d, "300000000") for d in month_days("2024-08")])
    (august,) = await close_month(
        w.book, w.ledger, ["P1"], "2024-08", checkpoint=checkpoint, behind=[]
    )
    assert august.true_up is not None and august.true_up.catch_ups == []


async def test_the_month_statement_shows_the_close_and_what_was_booked_after_it() -> None:
    w = await june_world(JUNE, **ADNA)
    (june,) = await close(w)
    assert june.true_up is not None
    open_june = await month_statement(w.book, w.ledger, "P1", "2024-07")
    assert open_june.status == "open" and open_june.catch_ups == []
    w.amend(2, date(2024, 6, 20), RATE_2, "revise")
    await w.advance()
    await w.settle([w.report(d, "300000000") for d in JULY])
    as_closed = await month_statement(w.book, w.ledger, "P1", "2024-06")
    assert as_closed.status == "closed" and as_closed.fee == june.true_up.fee  # not rewritten
    july = await month_statement(w.book, w.ledger, "P1", "2024-07")
    assert july.status == "open" and len(july.catch_ups) == 11  # June 20-30, posted in July
    (month_catch_up,) = july.month_catch_ups
    posted = sum((c.delta for c in july.catch_ups), Decimal(0))
    assert july.closing_fee == july.fee + posted + month_catch_up.difference
    checkpoint = await w.ledger.checkpoint()
    await close_month(w.book, w.ledger, ["P1"], "2024-07", checkpoint=checkpoint, behind=[])
    closed_july = await month_statement(w.book, w.ledger, "P1", "2024-07")
    assert closed_july.status == "closed" and closed_july.closing_fee == july.closing_fee
