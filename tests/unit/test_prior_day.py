"""A prior-day fee base: the fee for the days from D is computed on the net assets of the report
before D; a revised report adjusts the accrual that used it; a portfolio's first report is
priced on its own net assets and says so. No Redis: the in-memory ledger through the fee
worker's handlers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.basis import FeeBase
from tests.pricing_world import JAN, RATE_1, RATE_2, World, fee

PRIOR_DAY = {"fee_base": "prior_day"}


async def prior_day_world(**terms: Any) -> World:
    w = World(**PRIOR_DAY, **terms)
    w.amend(1, JAN[0], RATE_1, "add")
    await w.advance()
    return w


def accrued(w: World) -> dict[str, dict[str, Any]]:
    return {e["as_of"]: e for e in w.events("accruals") if e["_type"] == "FeeAccrued"}


def adjusted(w: World) -> list[dict[str, Any]]:
    return [e for e in w.events("accruals") if e["_type"] == "FeeAdjusted"]


def test_the_base_of_a_day_is_the_report_before_it_or_its_own_for_the_first() -> None:
    reported = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 5)]
    assert FeeBase.PRIOR_DAY.base_of(date(2024, 1, 5), reported) == date(2024, 1, 3)
    assert FeeBase.PRIOR_DAY.base_of(date(2024, 1, 2), reported) == date(2024, 1, 2)
    assert FeeBase.SAME_DAY.base_of(date(2024, 1, 5), reported) == date(2024, 1, 5)
    # The first report prices itself and the next; a later one only the next.
    assert FeeBase.PRIOR_DAY.priced_by(date(2024, 1, 2), reported) == (
        date(2024, 1, 2),
        date(2024, 1, 3),
    )
    assert FeeBase.PRIOR_DAY.priced_by(date(2024, 1, 3), reported) == (date(2024, 1, 5),)
    assert FeeBase.PRIOR_DAY.priced_by(date(2024, 1, 5), reported) == ()


async def test_a_days_fee_is_on_the_net_assets_reported_the_day_before() -> None:
    w = await prior_day_world()
    await w.settle([w.report(JAN[1], "100000000"), w.report(JAN[2], "200000000")])
    events = accrued(w)
    first, second = events["2024-01-02"], events["2024-01-03"]
    assert Decimal(first["amount"]) == fee(RATE_1, "100000000", JAN[1])
    assert first["fee_base_as_of"] == "2024-01-02" and "own net assets" in first["fee_base_note"]
    assert Decimal(second["amount"]) == fee(RATE_1, "100000000", JAN[2])
    assert second["fee_base_as_of"] == "2024-01-02" and "fee_base_note" not in second
    assert Decimal(second["net_assets"]) == Decimal("100000000")
    # The ledger keeps each report's own net assets: the next day is priced on them.
    assert w.entry(JAN[2]).net_assets == "200000000"


async def test_a_revised_report_adjusts_the_next_days_accrual_not_its_own() -> None:
    w = await prior_day_world()
    await w.settle(
        [w.report(day, nav) for day, nav in zip(JAN[1:4], ("1e8", "2e8", "3e8"), strict=True)]
    )
    before = w.amounts()
    await w.settle([w.report(JAN[2], "250000000", revision=1)])
    (adjustment,) = adjusted(w)
    assert adjustment["as_of"] == "2024-01-04" and adjustment["reason"] == "revised_report"
    assert adjustment["fee_base_as_of"] == "2024-01-03"
    delta = fee(RATE_1, "250000000", JAN[3]) - fee(RATE_1, "200000000", JAN[3])
    assert Decimal(adjustment["delta"]) == delta
    assert w.amounts()["2024-01-03"] == before["2024-01-03"]  # priced on Jan 2: unchanged
    assert w.entry(JAN[2]).revision == 1 and w.entry(JAN[2]).net_assets == "250000000"
    # Sent again, the revision is a duplicate: nothing more is adjusted.
    await w.settle([w.report(JAN[2], "250000000", revision=1)])
    assert len(adjusted(w)) == 1
    assert [e["code"] for e in w.events("report_outcomes")] == ["duplicate"]


async def test_a_revised_first_report_adjusts_itself_and_the_next() -> None:
    w = await prior_day_world()
    await w.settle([w.report(JAN[1], "100000000"), w.report(JAN[2], "200000000")])
    await w.settle([w.report(JAN[1], "150000000", revision=1)])
    assert {a["as_of"] for a in adjusted(w)} == {"2024-01-02", "2024-01-03"}
    assert w.amounts() == {
        "2024-01-02": fee(RATE_1, "150000000", JAN[1]),
        "2024-01-03": fee(RATE_1, "150000000", JAN[2]),
    }


async def test_a_late_report_between_two_becomes_the_next_ones_base() -> None:
    w = await prior_day_world()
    await w.settle([w.report(JAN[1], "100000000"), w.report(JAN[3], "300000000")])
    assert w.amounts()["2024-01-04"] == fee(RATE_1, "100000000", JAN[3])
    await w.settle([w.report(JAN[2], "200000000")])
    assert w.amounts()["2024-01-03"] == fee(RATE_1, "100000000", JAN[2])
    assert w.amounts()["2024-01-04"] == fee(RATE_1, "200000000", JAN[3])
    (adjustment,) = adjusted(w)
    assert adjustment["as_of"] == "2024-01-04" and adjustment["fee_base_as_of"] == "2024-01-03"


async def test_late_knowledge_reprices_on_the_base_the_accrual_had() -> None:
    w = await prior_day_world()
    await w.settle([w.report(JAN[4], "100000000"), w.report(JAN[5], "900000000")])
    w.amend(2, JAN[5], RATE_2, "revise")
    await w.advance()
    assert w.amounts()["2024-01-06"] == fee(RATE_2, "100000000", JAN[5])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(1, 28), min_size=1, max_size=12, unique=True),
    st.lists(st.integers(1, 10**9), min_size=12, max_size=12),
    st.randoms(use_true_random=False),
)
def test_in_any_arrival_order_each_day_is_priced_on_the_report_before_it(
    days: list[int], navs: list[int], rnd: Any
) -> None:
    import asyncio

    async def run() -> None:
        w = await prior_day_world()
        order = list(days)
        rnd.shuffle(order)
        for day in order:
            await w.settle([w.report(date(2024, 2, day), str(navs[days.index(day)]))])
        ordered = sorted(days)
        for i, day in enumerate(ordered):
            base = ordered[max(i - 1, 0)]
            expected = fee(RATE_1, str(navs[days.index(base)]), date(2024, 2, day))
            assert w.amounts()[date(2024, 2, day).isoformat()] == expected

    asyncio.run(run())
