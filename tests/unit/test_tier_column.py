"""`feeschedule parse`'s tier column writes every breakpoint exactly: read back, the amount it
shows ("$1.5B", "$250M", "$1,234,567") is the breakpoint, however large."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.parsing.command import describe_tiers
from services.parsing.model import ScheduleReading, TierReading

UNITS = {"B": 10**9, "M": 10**6}


def shown_amount(text: str) -> int:
    """The amount of '$1.5B', '$250M' or '$1,234,567', read back exactly."""
    number = text.removeprefix("$")
    scale = UNITS.get(number[-1], 1)
    return int(Decimal(number.rstrip("BM").replace(",", "")) * scale)


# Breakpoints as filings write them (whole thousandths of a million or billion) and any other.
breakpoints = st.one_of(
    st.integers(1, 10**18).map(lambda n: n * 10**6),
    st.integers(1, 10**18).map(lambda n: n * 10**3),
    st.integers(1, 10**24),
)


@given(breakpoints)
def test_a_breakpoint_is_shown_as_exactly_its_amount(upper: int) -> None:
    schedule = ScheduleReading(
        tiers=[
            TierReading(from_=0, to=upper, rate_pct="0.88"),
            TierReading(from_=upper, to=None, rate_pct="0.83"),
        ]
    )
    first, second = describe_tiers(schedule).split(", ")
    assert first.startswith("0.88% to $") and second == "0.83% above"
    assert shown_amount(first.removeprefix("0.88% to ")) == upper


def test_the_usual_breakpoints_read_as_a_fund_accountant_writes_them() -> None:
    tiers = [TierReading(from_=0, to=500_000_000, rate_pct="0.88"),
             TierReading(from_=500_000_000, to=1_500_000_000, rate_pct="0.83"),
             TierReading(from_=1_500_000_000, to=None, rate_pct="0.78")]  # fmt: skip
    assert describe_tiers(ScheduleReading(tiers=tiers)) == (
        "0.88% to $500M, 0.83% to $1.5B, 0.78% above"
    )
