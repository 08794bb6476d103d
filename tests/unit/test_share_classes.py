"""Share classes: a report may give each class's net assets; the fee is shared among them by
relative net assets, to the cent (largest remainder), and an adjustment says each class's
part. Classes that do not sum to the portfolio's net assets are dead-lettered with the reason.
No Redis: the in-memory ledger through the fee worker's handlers."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.messages import NetAssetsReported
from contracts.wire import encode
from tests.pricing_world import JAN, RATE_1, RATE_2, Entry, World


def report(w: World, day: date, classes: dict[str, str], revision: int = 0) -> Entry:
    w.entries += 1
    total = sum((Decimal(v) for v in classes.values()), Decimal(0))
    message = NetAssetsReported.model_validate(
        {
            "report_id": f"r-{day}",
            "portfolio_id": "P1",
            "as_of": day,
            "net_assets": str(total),
            "revision": revision,
            "classes": [{"class_id": c, "net_assets": v} for c, v in classes.items()],
        }
    )
    return Entry(f"{w.entries}-0", {k.encode(): v.encode() for k, v in encode(message).items()})


async def priced_world() -> World:
    w = World()
    w.amend(1, JAN[0], RATE_1, "add")
    await w.advance()
    return w


def accrued(w: World) -> list[dict[str, Any]]:
    return [e for e in w.events("accruals") if e["_type"] == "FeeAccrued"]


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.sampled_from("ABCIRZ"), st.integers(0, 10**11), min_size=1))
def test_the_classes_parts_sum_exactly_to_the_portfolios_fee(navs: dict[str, int]) -> None:
    async def run() -> None:
        w = await priced_world()
        await w.settle([report(w, JAN[1], {c: f"{n}.00" for c, n in navs.items()})])
        (event,) = accrued(w)
        parts = event["classes"]
        assert [p["class_id"] for p in parts] == sorted(navs)
        assert sum(Decimal(p["amount"]) for p in parts) == Decimal(event["amount"])
        exact = sum(Decimal(p["amount_exact"]) for p in parts)
        assert abs(exact - Decimal(event["amount_exact"])) < Decimal("1e-20")

    asyncio.run(run())


async def test_classes_that_do_not_sum_to_the_portfolio_are_dead_lettered() -> None:
    w = await priced_world()
    entry = report(w, JAN[1], {"A": "100", "I": "200"})
    bad = entry.fields[b"data"].replace(b'"net_assets":"300"', b'"net_assets":"301"')
    await w.settle([Entry(entry.entry_id, {**entry.fields, b"data": bad})])
    (letter,) = w.events("dead_letters")
    assert "classes" in letter["reason"] and "301" in letter["reason"]
    assert accrued(w) == []


async def test_an_adjustment_says_each_classs_part() -> None:
    w = await priced_world()
    await w.settle([report(w, JAN[1], {"A": "300000000", "I": "100000000"})])
    await w.settle([report(w, JAN[1], {"A": "300000000", "I": "300000000"}, revision=1)])
    w.amend(2, JAN[0], RATE_2, "revise")  # learned late: 0.50% instead of 0.90%
    await w.advance()
    revised, repriced = (e for e in w.events("accruals") if e["_type"] == "FeeAdjusted")
    for adjustment in (revised, repriced):
        parts = adjustment["classes"]
        assert sum(Decimal(p["delta"]) for p in parts) == Decimal(adjustment["delta"])
        assert sum(Decimal(p["new_amount"]) for p in parts) == Decimal(adjustment["new_amount"])
    # The revision tripled class I's assets: its part grew; class A's, at a flat rate on
    # unchanged assets, stayed.
    a, i = revised["classes"]
    assert (a["class_id"], i["class_id"]) == ("A", "I")
    assert Decimal(i["delta"]) > 0 and Decimal(a["delta"]) == 0
