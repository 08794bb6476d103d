"""A month's fee by the agreement's fee method, and its true-up against the daily accruals.

`daily`: the month's fee is the sum of its daily accruals (no true-up). `average_daily_net_assets`:
the annual fee of the month's average net assets x the month's days / the year basis.
`monthly_twelfth`: the annual fee of the month's average / 12. The average is over calendar
days (each day's assets counted once, a weekend carrying the Friday report's) or over business
days (the reported days only). A schedule change inside the month splits it at the effective
date: each part is priced on its own average, weighted by its days.
"""

from __future__ import annotations

import calendar
import decimal
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from services.domain.fees import FEE_CONTEXT, ZERO, DayCount, FeeSchedule, RoundingPolicy, total
from services.domain.timeline import ScheduleAnswer, answer_runs


class FeeMethod(StrEnum):
    DAILY = "daily"
    AVERAGE_DAILY_NET_ASSETS = "average_daily_net_assets"
    MONTHLY_TWELFTH = "monthly_twelfth"


class AverageOver(StrEnum):
    CALENDAR_DAYS = "calendar_days"
    BUSINESS_DAYS = "business_days"


@dataclass(frozen=True, slots=True)
class Reported:
    """A report's net assets and the calendar days from `as_of` it covers."""

    as_of: date
    net_assets: Decimal
    days: int = 1

    def covers(self, day: date) -> bool:
        return self.as_of <= day < self.as_of + timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class MonthPart:
    """Consecutive days of a month under one schedule answer, priced on their own average."""

    start: date
    days: int
    answer: ScheduleAnswer
    # None: no day of the part has net assets to average (the part owes nothing).
    average: Decimal | None
    fee_exact: Decimal


@dataclass(frozen=True, slots=True)
class MonthFee:
    """The month's fee by its method, beside the sum of its daily accruals."""

    month: str
    method: FeeMethod
    average_over: AverageOver
    parts: tuple[MonthPart, ...]
    rounding: RoundingPolicy
    fee_exact: Decimal
    fee: Decimal
    daily_total: Decimal

    @property
    def true_up(self) -> Decimal:
        """What the month's fee adds to (or takes from) what was accrued day by day."""
        return self.fee - self.daily_total


def next_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def posting_month(month: str, closed: Collection[str]) -> str:
    """The month a change to a day of `month` is booked in: its own while it is open, else the
    first open month after it (a closed month is never rewritten)."""
    while month in closed:
        month = next_month(month)
    return month


def month_days(month: str) -> list[date]:
    """The calendar days of a month written YYYY-MM."""
    year, number = (int(part) for part in month.split("-"))
    return [date(year, number, d) for d in range(1, calendar.monthrange(year, number)[1] + 1)]


def month_fee(
    month: str,
    method: FeeMethod,
    average_over: AverageOver,
    reports: Sequence[Reported],
    schedule_on: Callable[[date], ScheduleAnswer],
    terms: tuple[DayCount, RoundingPolicy],
    daily_total: Decimal,
) -> MonthFee:
    """The month's fee from its reports and the schedules in force on its days."""
    day_count, rounding = terms
    if method is FeeMethod.DAILY:
        daily = daily_total
        return MonthFee(month, method, average_over, (), rounding, daily, daily, daily)
    days = month_days(month)

    def part(start: date, n: int, answer: ScheduleAnswer) -> MonthPart:
        """Days under one answer, priced on their own average."""
        average = average_net_assets(start, n, reports, average_over)
        schedule: FeeSchedule | None = answer.schedule
        if average is None or schedule is None:
            return MonthPart(start, n, answer, average, ZERO)
        annual = schedule.annual_fee(average)
        with decimal.localcontext(FEE_CONTEXT):
            if method is FeeMethod.MONTHLY_TWELFTH:
                fee = annual / 12 * n / len(days)
            else:
                fee = annual * n / day_count.year_basis(start)
        return MonthPart(start, n, answer, average, fee)

    parts = tuple(part(*run) for run in answer_runs(days, schedule_on, day_count))
    exact = total(p.fee_exact for p in parts)
    fee = rounding.apply(exact)
    return MonthFee(month, method, average_over, parts, rounding, exact, fee, daily_total)


def average_net_assets(
    start: date, days: int, reports: Sequence[Reported], over: AverageOver
) -> Decimal | None:
    """The average net assets of the days start .. start + days - 1 (None: no assets)."""
    span = [start + timedelta(days=i) for i in range(days)]
    if over is AverageOver.BUSINESS_DAYS:
        values = [r.net_assets for r in reports if start <= r.as_of <= span[-1]]
    else:
        values = [r.net_assets for day in span for r in reports if r.covers(day)]
    if not values:
        return None
    with decimal.localcontext(FEE_CONTEXT):
        return sum(values, ZERO) / len(values)
