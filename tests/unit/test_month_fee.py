"""A month's fee by the agreement's fee method (services.domain.month), against months computed
by hand here: 28-, 29- (leap), 30- and 31-day months, a schedule change on the 15th, a month
whose average crosses a breakpoint that no single day does, and calendar against business-day
averages. No Redis."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.book import ScheduleBook
from services.domain.fees import DayCount, RoundingPolicy
from services.domain.month import (
    AverageOver,
    FeeMethod,
    Reported,
    average_net_assets,
    month_days,
    month_fee,
)
from tests.pricing_world import RATE_1, RATE_2, World

ADNA, TWELFTH, DAILY = (
    FeeMethod.AVERAGE_DAILY_NET_ASSETS,
    FeeMethod.MONTHLY_TWELFTH,
    FeeMethod.DAILY,
)
CALENDAR, BUSINESS = AverageOver.CALENDAR_DAYS, AverageOver.BUSINESS_DAYS
TIERS = [
    {"from": "0", "to": "500000000", "rate_pct": "0.88"},
    {"from": "500000000", "to": None, "rate_pct": "0.83"},
]


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def exact(numerator: Decimal, denominator: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        return numerator / denominator


def book_with(*amendments: tuple[date, list[dict[str, Any]]]) -> ScheduleBook:
    w = World()
    for number, (effective, tiers) in enumerate(amendments, start=1):
        w.amend(number, effective, tiers, "add" if number == 1 else "revise")
    return w.book


def every_day(month: str, assets: str) -> list[Reported]:
    return [Reported(day, Decimal(assets)) for day in month_days(month)]


def fee_of(
    month: str,
    reports: list[Reported],
    book: ScheduleBook,
    method: FeeMethod = ADNA,
    over: AverageOver = CALENDAR,
    day_count: DayCount = DayCount.ACT_365F,
) -> Decimal:
    def on(day: date) -> Any:
        return book.schedule_on("P1", day)

    terms = (day_count, RoundingPolicy())
    return month_fee(month, method, over, reports, on, terms, Decimal(0)).fee


@pytest.mark.parametrize(
    ("month", "days"), [("2023-02", 28), ("2024-04", 30), ("2024-05", 31), ("2024-02", 29)]
)
def test_average_daily_net_assets_is_the_annual_fee_times_the_months_days(
    month: str, days: int
) -> None:
    book = book_with((date(2020, 1, 1), RATE_1))
    # 0.90% of $100 million a year: $900,000.
    want = cents(exact(Decimal(900_000) * days, 365))
    assert fee_of(month, every_day(month, "100000000"), book) == want
    if month == "2024-02":  # a leap February under ACT/ACT divides by 366
        leap = fee_of(month, every_day(month, "100000000"), book, day_count=DayCount.ACT_ACT)
        assert leap == cents(exact(Decimal(900_000) * 29, 366))
    assert fee_of(month, every_day(month, "100000000"), book, TWELFTH) == Decimal("75000.00")


def test_a_schedule_change_on_the_15th_splits_the_month_each_part_on_its_own_average() -> None:
    book = book_with((date(2020, 1, 1), RATE_1), (date(2024, 5, 15), RATE_2))
    # 14 days at 0.90% on $100 million, 17 days at 0.50% on $300 million.
    reports = [
        Reported(day, Decimal(100_000_000 if day.day < 15 else 300_000_000))
        for day in month_days("2024-05")
    ]
    want = exact(Decimal(900_000) * 14 + Decimal(1_500_000) * 17, 365)
    assert fee_of("2024-05", reports, book) == cents(want)
    twelfth = Decimal(900_000) / 12 * 14 / 31 + Decimal(1_500_000) / 12 * 17 / 31
    assert fee_of("2024-05", reports, book, TWELFTH) == cents(twelfth)


def test_an_average_across_a_breakpoint_no_day_crosses_prices_the_average() -> None:
    book = book_with((date(2020, 1, 1), TIERS))
    # 15 days at $400 million, 15 at $700 million: no day pays 0.83% on $50 million, the
    # average of $550 million does.
    reports = [
        Reported(day, Decimal(400_000_000 if day.day <= 15 else 700_000_000))
        for day in month_days("2024-06")
    ]
    annual = Decimal(4_400_000) + Decimal(415_000)  # 0.88% of 500M + 0.83% of 50M
    assert fee_of("2024-06", reports, book) == cents(exact(annual * 30, 365))
    daily = exact((Decimal(3_520_000) + Decimal(4_400_000 + 1_660_000)) * 15, 365)
    assert fee_of("2024-06", reports, book) != cents(daily)


def test_a_calendar_day_average_carries_fridays_assets_over_the_weekend() -> None:
    friday = date(2024, 3, 1)
    reports = [Reported(friday, Decimal(100), 3)] + [
        Reported(friday + timedelta(days=d), Decimal(200)) for d in range(3, 7)
    ]
    average = average_net_assets(friday, 7, reports, CALENDAR)
    assert average is not None and abs(average - exact(Decimal(3 * 100 + 4 * 200), 7)) < Decimal(
        "1e-30"
    )
    assert average_net_assets(friday, 7, reports, BUSINESS) == Decimal(180)
    assert average_net_assets(friday + timedelta(days=10), 3, reports, CALENDAR) is None


def test_under_daily_the_months_fee_is_what_was_accrued() -> None:
    book = book_with((date(2020, 1, 1), RATE_1))
    on = lambda day: book.schedule_on("P1", day)  # noqa: E731
    terms = (DayCount.ACT_365F, RoundingPolicy())
    fee = month_fee("2024-05", DAILY, CALENDAR, [], on, terms, Decimal("1234.56"))
    assert (fee.fee, fee.true_up) == (Decimal("1234.56"), Decimal(0))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 10**10), st.sampled_from(["2023-02", "2024-02", "2024-04", "2024-07"]))
def test_on_assets_that_never_change_the_average_method_agrees_with_the_daily_accruals(
    assets: int, month: str
) -> None:
    """The daily pricer and the month's method, two paths, meet where they must: on the same
    assets every day, the average is those assets and the month's exact fee is the exact sum
    of its days (its true-up under either method is the daily rounding alone)."""

    async def run() -> None:
        w = World()
        w.amend(1, date(2020, 1, 1), TIERS, "add")
        await w.advance()
        await w.settle([w.report(day, str(assets)) for day in month_days(month)])
        with localcontext() as ctx:
            ctx.prec = 60  # the exact sum: the default 28 digits would round it (fees > $1M)
            daily = (Decimal(w.entry(d).amount_exact) for d in month_days(month))
            daily_exact = sum(daily, Decimal(0))
        booked = sum(w.amounts().values(), Decimal(0))
        on = lambda day: w.book.schedule_on("P1", day)  # noqa: E731
        terms = (DayCount.ACT_365F, RoundingPolicy())
        reports = every_day(month, str(assets))
        fee = month_fee(month, ADNA, CALENDAR, reports, on, terms, booked)
        assert abs(fee.fee_exact - daily_exact) < Decimal("1e-20")
        assert fee.true_up == cents(daily_exact) - booked
        daily = month_fee(month, DAILY, CALENDAR, reports, on, terms, booked)
        assert daily.true_up == 0

    asyncio.run(run())
