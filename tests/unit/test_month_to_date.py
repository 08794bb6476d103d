"""Month-to-date rounding: each accrual books round(the month's exact total with it) less what
the month's other accruals booked, so a month's booked total is its exact total rounded once,
whatever order the reports come in and after late knowledge adjusts them. No Redis: the
in-memory ledger through the fee worker's handlers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.app.accruals import statement
from services.domain.errors import DomainError
from services.domain.fees import MonthToDate, RoundingPolicy, RoundingScope
from tests.pricing_world import JAN, RATE_1, RATE_2, World

MONTH_TO_DATE = "ROUND_HALF_UP:0.01:month-to-date"
CENTS = RoundingPolicy()
# 0.365% a year on $500 is half a cent a day (ACT/365F): each day alone rounds up.
HALF_CENT_RATE = [{"from": "0", "to": None, "rate_pct": "0.365"}]
TIERS = [
    {"from": "0", "to": "500000000", "rate_pct": "0.88"},
    {"from": "500000000", "to": None, "rate_pct": "0.83"},
]
FEB = [date(2024, 2, d) for d in range(1, 30)]


def test_the_policy_is_named_and_parsed_with_its_scope() -> None:
    policy = RoundingPolicy.parse(MONTH_TO_DATE)
    assert policy.scope is RoundingScope.MONTH_TO_DATE and policy.name == MONTH_TO_DATE
    assert RoundingPolicy.parse("ROUND_HALF_UP:0.01").name == "ROUND_HALF_UP:0.01"
    with pytest.raises(DomainError, match="scope"):
        RoundingPolicy.parse("ROUND_HALF_UP:0.01:yearly")


@given(st.lists(st.decimals("0", "1000", places=6), min_size=1, max_size=31))
def test_booking_in_any_order_ties_the_total_to_the_exact_total_rounded_once(
    exacts: list[Decimal],
) -> None:
    policy = RoundingPolicy.parse(MONTH_TO_DATE)
    month = MonthToDate()
    for exact in exacts:
        month = month.plus(exact, policy.booked(exact, month))
    assert month.booked == CENTS.apply(sum(exacts, Decimal(0)))


def month_totals(w: World) -> dict[str, tuple[Decimal, Decimal]]:
    """Month -> (booked total, exact total) of the ledger."""
    booked: dict[str, Decimal] = defaultdict(Decimal)
    exact: dict[str, Decimal] = defaultdict(Decimal)
    for day in w.entry_texts():
        entry = w.entry(date.fromisoformat(day))
        booked[day[:7]] += Decimal(entry.amount)
        exact[day[:7]] += Decimal(entry.amount_exact)
    return {m: (booked[m], exact[m]) for m in booked}


def assert_months_tie(w: World) -> None:
    for month, (booked, exact) in month_totals(w).items():
        assert booked == CENTS.apply(exact), month
    # The accruals statement's month totals say the same.
    for row in statement("P1", w.entry_texts(), [], date(2024, 1, 1), date(2024, 12, 31)).months:
        assert Decimal(row["amount"]) == CENTS.apply(Decimal(row["amount_exact"]))
    # What a consumer of the events adds up is what the ledger holds.
    emitted = sum(Decimal(e["amount"]) for e in w.events("accruals") if e["_type"] == "FeeAccrued")
    emitted += sum(Decimal(e["delta"]) for e in w.events("accruals") if e["_type"] == "FeeAdjusted")
    assert emitted == sum(booked for booked, _ in month_totals(w).values())


async def test_three_half_cent_days_book_two_cents_not_three() -> None:
    for rounding, booked in (("ROUND_HALF_UP:0.01", "0.03"), (MONTH_TO_DATE, "0.02")):
        w = World(rounding=rounding)
        w.amend(1, JAN[0], HALF_CENT_RATE, "add")
        await w.advance()
        await w.settle([w.report(day, "500") for day in JAN[1:4]])
        amounts = w.amounts()
        assert sum(amounts.values()) == Decimal(booked), rounding
    # Booked in order: 0.005 -> 0.01, 0.010 -> 0.01 (0.00 more), 0.015 -> 0.02 (0.01 more).
    assert list(amounts.values()) == [Decimal("0.01"), Decimal("0.00"), Decimal("0.01")]


net_assets = st.decimals("1000", "3000000000", places=2)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_a_month_of_random_reports_books_its_exact_total_rounded_once(data: st.DataObject) -> None:
    days = data.draw(st.integers(1, 29), label="days")
    navs = data.draw(st.lists(net_assets, min_size=days, max_size=days), label="net assets")
    order = data.draw(st.permutations(range(days)), label="arrival order")
    size = data.draw(st.integers(1, days), label="batch size")
    effective = data.draw(st.sampled_from(FEB[:days]), label="retroactive amendment from")
    revised = data.draw(st.integers(0, days - 1), label="revised day")

    async def run() -> None:
        w = World(rounding=MONTH_TO_DATE)
        w.amend(1, JAN[0], TIERS, "add")
        await w.advance()
        entries = [w.report(FEB[i], str(navs[i])) for i in order]
        for start in range(0, days, size):
            await w.settle(entries[start : start + size])
        assert len(w.entry_texts()) == days
        assert_months_tie(w)
        w.amend(2, effective, RATE_2, "revise")  # recorded late: it adjusts the month
        await w.advance()
        assert_months_tie(w)
        assert w.entry(effective).schedule_ref["amendment_number"] == 2  # type: ignore[index]
        await w.settle([w.report(FEB[revised], str(navs[revised] * 2), revision=1)])
        assert_months_tie(w)
        assert Decimal(w.entry(FEB[revised]).net_assets) == navs[revised] * 2

    asyncio.run(run())


async def test_a_month_ties_while_another_month_books_on_its_own() -> None:
    w = World(rounding=MONTH_TO_DATE)
    w.amend(1, JAN[0], HALF_CENT_RATE, "add")
    await w.advance()
    await w.settle([w.report(day, "500") for day in (JAN[29], JAN[30], FEB[0])])
    assert w.amounts() == {
        "2024-01-30": Decimal("0.01"),
        "2024-01-31": Decimal("0.00"),
        "2024-02-01": Decimal("0.01"),  # February starts again from nothing
    }


async def test_a_retraction_keeps_the_month_tied() -> None:
    w = World(rounding=MONTH_TO_DATE)
    w.amend(1, JAN[0], RATE_1, "add")
    w.amend(2, JAN[9], HALF_CENT_RATE, "revise")
    await w.advance()
    await w.settle([w.report(day, "500") for day in JAN[5:15]])
    before = month_totals(w)["2024-01"]
    from contracts.messages import AmendmentRetracted

    w.log(AmendmentRetracted(agreement_id="AG", amendment_number=2, reason="filed in error"))
    await w.advance()
    after = month_totals(w)["2024-01"]
    assert after != before and after[0] == CENTS.apply(after[1])
    reasons = {e["reason"] for e in w.events("accruals") if e["_type"] == "FeeAdjusted"}
    assert reasons == {"retraction"}
