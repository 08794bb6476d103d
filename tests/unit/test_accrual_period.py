"""An accrual period is the sum of its days, each priced by the schedule (or waiver) in force on
it, on its own year basis (`ScheduleBook.accrue_period`): a property over generated schedule
histories, and hand-computed cases across an effective date, a waiver's end and a year end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.agreement import Amendment, GrantWaiver, SetSchedule
from services.domain.book import Registration, ScheduleBook
from services.domain.fees import DayCount, FeeSchedule, RoundingPolicy, accrue
from services.domain.timeline import RecordPoint

PID = "p"
START = date(2023, 12, 1)
RATES = [FeeSchedule.flat(r) for r in ("0.90", "0.75", "0.50")]
TIERED = FeeSchedule.from_json(
    [
        {"from": "0", "to": "500000000", "rate_pct": "0.88"},
        {"from": "500000000", "to": None, "rate_pct": "0.83"},
    ]
)


def book_of(day_count: DayCount, *changes: tuple[date, SetSchedule | GrantWaiver]) -> ScheduleBook:
    book = ScheduleBook()
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    registration = Registration("a", None, None, None, day_count, RoundingPolicy())
    book.register(registration, RecordPoint(moment, "1-0"))
    for n, (effective, change) in enumerate(changes, start=1):
        amendment = Amendment("a", n, effective, (change,))
        book.record_amendment(amendment, f"e{n}", RecordPoint(moment, f"{n + 1}-0"))
    return book


def sets(effective: date, schedule: FeeSchedule) -> tuple[date, SetSchedule]:
    return effective, SetSchedule(PID, "Fund", schedule, "replace")


def waives(first: date, last: date, schedule: FeeSchedule) -> tuple[date, GrantWaiver]:
    return first, GrantWaiver(PID, schedule, first, last)


days_from_start = st.integers(0, 70)
history = st.lists(
    st.one_of(
        st.builds(
            lambda d, s: sets(START + timedelta(days=d), RATES[s]),
            days_from_start,
            st.integers(0, 2),
        ),
        st.builds(
            lambda d, n, s: waives(
                START + timedelta(days=d), START + timedelta(days=d + n), RATES[s]
            ),
            days_from_start,
            st.integers(0, 9),
            st.integers(0, 2),
        ),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(
    history,
    st.sampled_from(list(DayCount)),
    st.integers(-5, 75),
    st.integers(1, 10),
    st.decimals(min_value=0, max_value=10**10, places=2),
)
def test_a_period_is_the_sum_of_its_days_priced_one_by_one(
    changes: list[tuple[date, SetSchedule | GrantWaiver]],
    day_count: DayCount,
    offset: int,
    days: int,
    assets: Decimal,
) -> None:
    book = book_of(day_count, sets(START, RATES[0]), *changes)
    start = START + timedelta(days=offset)
    period = book.accrue_period(PID, start, days, assets)
    one_by_one = []
    for i in range(days):
        day = start + timedelta(days=i)
        answer = book.schedule_on(PID, day)
        if answer.schedule is not None:
            one_by_one.append(
                accrue(answer.schedule, assets, day, day_count=day_count).amount_exact
            )
    if not one_by_one:
        assert period is None
        return
    assert period is not None
    exact = sum((Fraction(x) for x in one_by_one), Fraction(0))
    assert abs(Fraction(period.accrual.amount_exact) - exact) <= Fraction(1, 10**20)
    assert period.accrual.amount == RoundingPolicy().apply(period.accrual.amount_exact)
    assert (period.accrual.as_of, period.accrual.accrual_days) == (start, days)
    # The stretches tile the period, and each day of one is priced by its answer.
    day = start
    for stretch in period.stretches:
        assert stretch.start == day
        for i in range(stretch.days):
            assert book.schedule_on(PID, day + timedelta(days=i)).version is stretch.answer.version
        day += timedelta(days=stretch.days)
    assert day == start + timedelta(days=days)


def test_a_friday_before_a_sunday_amendment_is_two_days_old_and_one_day_new() -> None:
    book = book_of(
        DayCount.ACT_365F, sets(date(2006, 5, 1), RATES[0]), sets(date(2006, 10, 1), TIERED)
    )
    period = book.accrue_period(PID, date(2006, 9, 29), 3, Decimal(600_000_000))
    assert period is not None
    # 2 x 5,400,000 / 365 + (4,400,000 + 830,000) / 365 = 16,030,000 / 365
    assert period.accrual.amount == Decimal("43917.81")
    assert [(s.start, s.days) for s in period.stretches] == [
        (date(2006, 9, 29), 2),
        (date(2006, 10, 1), 1),
    ]
    assert period.first.answer.version is not None
    assert period.first.answer.version.provenance.amendment_number == 1


def test_a_waiver_ending_inside_the_period_waives_only_its_days() -> None:
    book = book_of(
        DayCount.ACT_365F,
        sets(date(2024, 1, 1), RATES[0]),
        waives(date(2024, 1, 1), date(2024, 3, 2), RATES[2]),
    )
    period = book.accrue_period(PID, date(2024, 3, 1), 3, Decimal(365_000_000))
    assert period is not None
    # 2 days at 0.50% (5,000 a day on $365 million) and 1 at 0.90% (9,000).
    assert period.accrual.amount == Decimal("19000.00")
    assert [s.answer.waived for s in period.stretches] == [True, False]


def test_a_period_across_a_year_end_under_act_act_takes_each_years_basis() -> None:
    book = book_of(DayCount.ACT_ACT, sets(date(2027, 1, 1), RATES[0]))
    period = book.accrue_period(PID, date(2027, 12, 31), 3, Decimal(600_000_000))
    assert period is not None
    # 5,400,000 / 365 + 2 x 5,400,000 / 366 = 14,794.5205... + 29,508.1967... = 44,302.72
    assert period.accrual.amount == Decimal("44302.72")
    assert [(s.days, s.accrual.year_basis) for s in period.stretches if s.accrual] == [
        (1, 365),
        (2, 366),
    ]


def test_days_with_no_schedule_owe_nothing_and_a_period_with_none_is_unpriced() -> None:
    book = book_of(DayCount.ACT_365F, sets(date(2024, 1, 3), RATES[0]))
    assert book.accrue_period(PID, date(2023, 12, 30), 3, Decimal(365_000_000)) is None
    period = book.accrue_period(PID, date(2024, 1, 1), 4, Decimal(365_000_000))
    assert period is not None and period.accrual.amount == Decimal("18000.00")  # 2 x 9,000
    assert period.first.start == date(2024, 1, 3)
