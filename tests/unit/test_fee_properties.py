"""Properties of the fee engine, checked on generated schedules, assets, dates and day counts.

Expected values are computed here with `fractions.Fraction` (exact rational arithmetic), so the
properties do not lean on the engine's own Decimal context.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.domain.fees import (
    DayCount,
    FeeSchedule,
    RoundingPolicy,
    Tier,
    accrue,
)

FIFTY_BILLION = 50 * 10**9
HUNDRED_BILLION_CENTS = 100 * 10**9 * 100

PROPS = settings(max_examples=250, deadline=None)


@dataclass(frozen=True)
class Generated:
    schedule: FeeSchedule
    bounds: tuple[int, ...]  # the finite upper bounds, ascending
    rates: tuple[Decimal, ...]  # one per band


@st.composite
def rates(draw: st.DrawFn) -> Decimal:
    """A rate in percent with 0 to 4 decimals, written as such ("0.650" keeps its zero)."""
    places = draw(st.integers(0, 4))
    units = draw(st.integers(0, 100 * 10**places - 1))
    return Decimal(units).scaleb(-places)


@st.composite
def schedules(draw: st.DrawFn, min_bands: int = 1, max_bands: int = 6) -> Generated:
    n = draw(st.integers(min_bands, max_bands))
    bounds = sorted(draw(st.sets(st.integers(1, FIFTY_BILLION), min_size=n - 1, max_size=n - 1)))
    band_rates = tuple(draw(rates()) for _ in range(n))
    lowers = [0, *bounds]
    uppers: list[int | None] = [*bounds, None]
    tiers = tuple(
        Tier(Decimal(lo), None if up is None else Decimal(up), r)
        for lo, up, r in zip(lowers, uppers, band_rates, strict=True)
    )
    return Generated(FeeSchedule(tiers), tuple(bounds), band_rates)


net_assets = st.integers(0, HUNDRED_BILLION_CENTS).map(lambda c: Decimal(c).scaleb(-2))
day_counts = st.sampled_from(list(DayCount))
# 1999..2101 covers leap years, the 2000 (leap) and 2100 (not leap) century rules.
dates = st.dates(min_value=date(1999, 1, 1), max_value=date(2101, 12, 31))
leap_days = st.sampled_from([date(2000, 2, 29), date(2008, 12, 31), date(2024, 1, 1)])
accrual_days = st.integers(1, 4)


def exact_annual(g: Generated, assets: Decimal) -> Fraction:
    """Sum over bands of rate x assets inside the band, exactly."""
    a = Fraction(assets)
    total = Fraction(0)
    lowers = [0, *g.bounds]
    uppers: list[int | None] = [*g.bounds, None]
    for lo, up, rate in zip(lowers, uppers, g.rates, strict=True):
        top = a if up is None else min(a, Fraction(up))
        if top > lo:
            total += (top - lo) * Fraction(rate) / 100
    return total


def basis(day_count: DayCount, on: date) -> int:
    leap = on.year % 4 == 0 and (on.year % 100 != 0 or on.year % 400 == 0)
    return {"ACT/360": 360, "ACT/ACT": 366 if leap else 365, "ACT/365F": 365}[day_count.value]


def round_cents(x: Fraction, mode: str) -> Fraction:
    """Round a non-negative rational to cents, half up or half even, exactly."""
    cents = x * 100
    whole = cents.numerator // cents.denominator
    rest = cents - whole
    if rest > Fraction(1, 2) or (
        rest == Fraction(1, 2) and (mode == "ROUND_HALF_UP" or whole % 2 == 1)
    ):
        whole += 1
    return Fraction(whole, 100)


@PROPS
@given(schedules(), net_assets, net_assets)
def test_annual_fee_never_decreases_as_assets_grow(g: Generated, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert g.schedule.annual_fee(low) <= g.schedule.annual_fee(high)


@PROPS
@given(schedules(min_bands=2), st.data())
def test_fee_is_continuous_at_every_breakpoint(g: Generated, data: st.DataObject) -> None:
    fee = g.schedule.annual_fee
    for i, bound in enumerate(g.bounds):
        b = Decimal(bound)
        below, above = g.rates[i], g.rates[i + 1]
        lower_i = g.schedule.tiers[i].lower
        # The band below's formula, evaluated at its top: fee at its start + its rate x width.
        from_below = fee(lower_i) + below * (b - lower_i) / 100
        # The band above's formula, evaluated at its start, from a point inside it.
        upper_next = g.schedule.tiers[i + 1].upper
        room = (upper_next - b) if upper_next is not None else Decimal(10**9)
        d = Decimal(data.draw(st.integers(1, int(room)), label=f"step above {bound}"))
        from_above = fee(b + d) - above * d / 100
        assert fee(b) == from_below == from_above
        # And no jump: one cent either side moves the fee by at most rate x one cent.
        cent = Decimal("0.01")
        assert fee(b) - fee(b - cent) == below * cent / 100
        assert fee(b + cent) - fee(b) == above * cent / 100


@PROPS
@given(schedules(), st.data())
def test_marginal_rate_inside_a_band_is_that_bands_rate(g: Generated, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(g.schedule.tiers) - 1), label="band")
    tier = g.schedule.tiers[i]
    top = tier.upper if tier.upper is not None else tier.lower + Decimal(10**11)
    cents = int((top - tier.lower) * 100)
    x, y = sorted(data.draw(st.lists(st.integers(0, cents), min_size=2, max_size=2)))
    a = tier.lower + Decimal(x).scaleb(-2)
    d = Decimal(y - x).scaleb(-2)
    fee = g.schedule.annual_fee
    assert fee(a + d) - fee(a) == tier.rate_pct * d / 100


@PROPS
@given(schedules(), net_assets)
def test_breakdown_sums_to_the_total_and_matches_an_exact_calculation(
    g: Generated, assets: Decimal
) -> None:
    breakdown = g.schedule.breakdown(assets)
    assert len(breakdown) == len(g.schedule.tiers)
    assert sum(b.annual_charge for b in breakdown) == g.schedule.annual_fee(assets)
    assert sum(b.assets_in_band for b in breakdown) == assets
    assert Fraction(g.schedule.annual_fee(assets)) == exact_annual(g, assets)
    for band in breakdown:
        assert band.annual_charge == band.assets_in_band * band.tier.rate_pct / 100


@PROPS
@given(rates(), net_assets)
def test_flat_schedule_is_rate_times_assets(rate: Decimal, assets: Decimal) -> None:
    schedule = FeeSchedule.flat(rate)
    assert Fraction(schedule.annual_fee(assets)) == Fraction(rate) * Fraction(assets) / 100
    assert schedule.effective_rate_pct(assets) == rate


@PROPS
@given(schedules(), net_assets)
def test_effective_rate_lies_between_the_lowest_and_highest_band_rates(
    g: Generated, assets: Decimal
) -> None:
    effective = g.schedule.effective_rate_pct(assets)
    assert min(g.rates) <= effective <= max(g.rates)
    if assets > 0:
        expected = exact_annual(g, assets) * 100 / Fraction(assets)
        assert abs(Fraction(effective) - expected) <= expected * Fraction(1, 10**30)


@PROPS
@given(
    schedules(),
    net_assets,
    st.one_of(dates, leap_days),
    day_counts,
    accrual_days,
    st.sampled_from(["ROUND_HALF_UP", "ROUND_HALF_EVEN"]),
)
def test_accrual_is_annual_times_days_over_basis_rounded_by_the_named_policy(
    g: Generated,
    assets: Decimal,
    on: date,
    day_count: DayCount,
    days: int,
    mode: str,
) -> None:
    policy = RoundingPolicy(mode)
    acc = accrue(g.schedule, assets, on, accrual_days=days, day_count=day_count, rounding=policy)
    want_basis = basis(day_count, on)
    assert acc.year_basis == want_basis
    assert Fraction(acc.annual_fee) == exact_annual(g, assets)
    exact = exact_annual(g, assets) * days / want_basis
    # amount_exact is the exact quotient to at least 30 significant digits.
    assert abs(Fraction(acc.amount_exact) - exact) <= exact * Fraction(1, 10**30)
    # The rounded amount is the exact value rounded by the policy (checked independently) ...
    assert Fraction(acc.amount) == round_cents(exact, mode)
    # ... and is what the named policy makes of amount_exact.
    decimal_mode = {"ROUND_HALF_UP": ROUND_HALF_UP, "ROUND_HALF_EVEN": ROUND_HALF_EVEN}[mode]
    assert acc.amount == acc.amount_exact.quantize(Decimal("0.01"), rounding=decimal_mode)
    assert acc.amount.as_tuple().exponent == -2


@PROPS
@given(schedules(), net_assets, dates, day_counts, st.integers(2, 4))
def test_accrual_scales_with_days(
    g: Generated, assets: Decimal, on: date, day_count: DayCount, days: int
) -> None:
    one = accrue(g.schedule, assets, on, accrual_days=1, day_count=day_count)
    many = accrue(g.schedule, assets, on, accrual_days=days, day_count=day_count)
    assume(one.amount_exact > 0)
    ratio = Fraction(many.amount_exact) / Fraction(one.amount_exact)
    assert abs(ratio - days) <= Fraction(days, 10**30)
