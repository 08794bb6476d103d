"""The ledger holds its decimals as the wire does: plain digits, never an exponent, however
small the amount (a fund's first days can hold cents: a fee of a ten-millionth of a dollar)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pricing_world import JAN, RATE_1, World

PLAIN = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@pytest.mark.parametrize("assets", ["0.01", "0.00000027", "0.3", "500000000", "0"])
async def test_a_ledger_entry_writes_every_amount_in_plain_digits(assets: str) -> None:
    world = World()
    world.amend(1, JAN[0], RATE_1, "add")
    await world.settle([world.report(JAN[1], assets)])
    entry = world.entry(JAN[1])
    for name in ("net_assets", "amount", "amount_exact", "accrued"):
        value = getattr(entry, name)
        assert PLAIN.fullmatch(value), (name, value)
    assert Decimal(entry.net_assets) == Decimal(assets)


@settings(max_examples=40, deadline=None)
@given(st.decimals(min_value=0, max_value=10, places=8, allow_nan=False))
def test_the_exact_amount_of_any_small_fund_is_plain_and_exact(assets: Decimal) -> None:
    import asyncio

    async def price() -> tuple[str, str]:
        world = World()
        world.amend(1, JAN[0], RATE_1, "add")
        await world.settle([world.report(JAN[1], f"{assets:f}")])
        event = world.events("accruals")[-1]
        return world.entry(JAN[1]).amount_exact, event["amount_exact"]

    in_ledger, in_event = asyncio.run(price())
    assert PLAIN.fullmatch(in_ledger), in_ledger
    assert Decimal(in_ledger) == Decimal(in_event)
