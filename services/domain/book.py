"""All agreements and every portfolio's timeline: the one fold of the agreements log.

The recorder (judging a command), the projector (its read model), the fee worker (its
schedules in memory) and the audit replay all fold the log through `ScheduleBook.apply`, so
"which schedule applied" has one answer everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from services.domain.agreement import (
    Agreement,
    Amendment,
    AmendmentApplied,
    LogEvent,
    Registered,
    Registration,
    Retracted,
)
from services.domain.basis import FeeBase
from services.domain.errors import DomainError
from services.domain.fees import (
    Accrual,
    DayCount,
    FeeSchedule,
    MonthToDate,
    RoundingPolicy,
    accrue,
    check_accrual_days,
    total,
)
from services.domain.group import GroupTerms, MemberShare, share_group_fee
from services.domain.names import name_key
from services.domain.timeline import (
    KnownAt,
    RecordPoint,
    ScheduleAnswer,
    ScheduleTimeline,
    answer_runs,
)

# The log's events, which the book folds, are read from here with it.
__all__ = ["AmendmentApplied", "LogEvent", "Registered", "Registration", "Retracted"]


@dataclass(frozen=True, slots=True)
class Stretch:
    """Consecutive days of an accrual period priced alike: by the same schedule answer (the
    same version, waiver or none), on the same year basis."""

    start: date
    days: int
    answer: ScheduleAnswer
    # None: no schedule is in force on these days, and nothing is owed for them.
    accrual: Accrual | None
    # Under a waiver: what the schedule it stands in for would have charged (the gross fee).
    gross: Accrual | None = None

    # Written out: see Accrual.__init__ (services.domain.fees).
    def __init__(
        self,
        start: date,
        days: int,
        answer: ScheduleAnswer,
        accrual: Accrual | None,
        gross: Accrual | None = None,
    ) -> None:
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "answer", answer)
        object.__setattr__(self, "accrual", accrual)
        object.__setattr__(self, "gross", gross)


@dataclass(frozen=True, slots=True)
class PeriodAccrual:
    """The fee of an accrual period, the sum of its days each priced as that day's schedule
    and year basis say. `accrual` has the first priced stretch's terms (schedule, basis, rate,
    bands) and the period's days and amounts: the net fee. `gross_exact` is what the contract
    schedules charge before any waiver (the net, where none applies)."""

    accrual: Accrual
    stretches: tuple[Stretch, ...]
    gross_exact: Decimal

    # Written out: see Accrual.__init__ (services.domain.fees).
    def __init__(
        self,
        accrual: Accrual,
        stretches: tuple[Stretch, ...],
        gross_exact: Decimal,
    ) -> None:
        object.__setattr__(self, "accrual", accrual)
        object.__setattr__(self, "stretches", stretches)
        object.__setattr__(self, "gross_exact", gross_exact)

    @property
    def first(self) -> Stretch:
        """The first stretch with a schedule (whose terms the period's accrual has)."""
        first = self.stretches[0]
        if first.accrual is not None:
            return first
        return next(s for s in self.stretches if s.accrual is not None)

    @property
    def waived(self) -> bool:
        # A loop: any() of a generator costs twice as much, and it is asked for every report.
        for stretch in self.stretches:  # noqa: SIM110
            if stretch.gross is not None:
                return True
        return False

    @property
    def gross_amount(self) -> Decimal:
        return self.accrual.rounding.apply(self.gross_exact)

    def booked_in(self, month: MonthToDate) -> PeriodAccrual:
        """The period as booked beside its month's other accruals: under month-to-date
        rounding, round(the month's exact total with it) less what the others booked."""
        rounding = self.accrual.rounding
        if not rounding.month_to_date:
            return self
        amount = rounding.booked(self.accrual.amount_exact, month)
        return replace(self, accrual=replace(self.accrual, amount=amount))

    @property
    def waived_amount(self) -> Decimal:
        """Gross less net, rounded each: so gross - waived = net to the cent."""
        return self.gross_amount - self.accrual.amount


class ScheduleBook:
    """Agreements by id, and one timeline per portfolio across all agreements (shared with
    every agreement, which folds its amendments into it)."""

    def __init__(self) -> None:
        self.agreements: dict[str, Agreement] = {}
        self.timelines: dict[str, ScheduleTimeline] = {}

    def agreement(self, agreement_id: str) -> Agreement:
        if agreement_id not in self.agreements:
            self.agreements[agreement_id] = Agreement(agreement_id, timelines=self.timelines)
        return self.agreements[agreement_id]

    def apply(self, event: LogEvent) -> None:
        """Fold one recorded event into its agreement (and so into the shared timelines)."""
        self.agreement(event.agreement_id).apply(event)

    def register(self, reg: Registration, point: RecordPoint) -> None:
        self.apply(Registered(reg, point))

    def record_amendment(self, amendment: Amendment, event_id: str, point: RecordPoint) -> None:
        self.apply(AmendmentApplied(amendment, event_id, point))

    def retract(self, agreement_id: str, amendment_number: int, point: RecordPoint) -> None:
        self.apply(Retracted(agreement_id, amendment_number, point))

    def schedule_on(self, portfolio_id: str, on: date, known_at: KnownAt = None) -> ScheduleAnswer:
        timeline = self.timelines.get(portfolio_id)
        if timeline is None:
            return ScheduleAnswer(portfolio_id, on, None, None)
        return timeline.schedule_on(on, known_at)

    def accrue_period(
        self, portfolio_id: str, start: date, days: int, net_assets: Decimal
    ) -> PeriodAccrual | None:
        """The fee of the `days` calendar days from `start`, each day priced by the schedule
        (or waiver) in force on it, on its own year basis; None when no day has a schedule."""
        check_accrual_days(days)
        day_count, rounding = self.terms_for(portfolio_id)
        if days == 1:  # most reports: no stretches to find
            answer = self.schedule_on(portfolio_id, start)
            accrual = _accrue(answer.schedule, net_assets, start, 1, day_count, rounding)
            if accrual is None:
                return None
            before = _accrue(_waived(answer), net_assets, start, 1, day_count, rounding)
            stretch = Stretch(start, 1, answer, accrual, before)
            return PeriodAccrual(accrual, (stretch,), (before or accrual).amount_exact)
        runs = answer_runs(
            (start + timedelta(days=offset) for offset in range(days)),
            lambda day: self.schedule_on(portfolio_id, day),
            day_count,
        )
        stretches = tuple(
            Stretch(
                on,
                n,
                answer,
                _accrue(answer.schedule, net_assets, on, n, day_count, rounding),
                _accrue(_waived(answer), net_assets, on, n, day_count, rounding),
            )
            for on, n, answer in runs
        )
        if len(stretches) == 1:
            # One stretch (a plain day, most of all): it is the period, as accrued.
            (only,) = stretches
            if only.accrual is None:
                return None
            return PeriodAccrual(only.accrual, stretches, (only.gross or only.accrual).amount_exact)
        priced = [s.accrual for s in stretches if s.accrual is not None]
        if not priced:
            return None
        exact = total(a.amount_exact for a in priced)
        period = replace(
            priced[0],
            as_of=start,
            accrual_days=days,
            amount_exact=exact,
            amount=rounding.apply(exact),
        )
        gross = total(a.amount_exact for s in stretches if (a := s.gross or s.accrual))
        return PeriodAccrual(period, stretches, gross)

    def group_on(self, portfolio_id: str, on: date) -> GroupTerms | None:
        """The group whose schedule prices the portfolio on `on`, if any."""
        version = self.schedule_on(portfolio_id, on).version
        return None if version is None else version.group

    def group_members(self, group: GroupTerms, on: date) -> list[str]:
        """The portfolios the group's schedule prices on `on`: those it names whose schedule
        that day is still the group's (a member that left has a schedule of its own)."""
        return [
            pid
            for pid in group.members
            if (terms := self.group_on(pid, on)) is not None and terms.group_id == group.group_id
        ]

    def accrue_group(
        self, start: date, days: int, net_assets: Mapping[str, Decimal]
    ) -> tuple[PeriodAccrual, dict[str, MemberShare]] | None:
        """A group's period on its members' combined assets (`net_assets`: member -> its own),
        and each member's share; None when no day of it has a schedule."""
        combined = total(net_assets.values())
        period = self.accrue_period(min(net_assets), start, days, combined)
        return None if period is None else (period, share_group_fee(period.accrual, net_assets))

    def check_currency(self, portfolio_id: str, currency: str) -> None:
        """Raise DomainError unless `currency` is that of the agreement that prices the
        portfolio (its breakpoints are amounts in it)."""
        owner = self.owner_of(portfolio_id)
        agreed = "USD" if owner is None else owner.currency
        if currency != agreed:
            raise DomainError(
                "currency",
                currency,
                f"is not the currency of portfolio {portfolio_id!r}'s agreement ({agreed});"
                " its breakpoints cannot price it",
            )

    def owner_of(self, portfolio_id: str) -> Agreement | None:
        """The agreement that governs the portfolio's fee terms (the first to set its
        schedule), if any."""
        timeline = self.timelines.get(portfolio_id)
        return None if timeline is None else self.agreements.get(timeline.owner or "")

    def fee_base(self, portfolio_id: str) -> FeeBase:
        """Whose net assets price the portfolio's accruals (its governing agreement says)."""
        owner = self.owner_of(portfolio_id)
        return FeeBase.SAME_DAY if owner is None else owner.fee_base

    def terms_for(self, portfolio_id: str) -> tuple[DayCount, RoundingPolicy]:
        """Day count and rounding of the agreement that governs the portfolio."""
        owner = self.owner_of(portfolio_id)
        if owner is None:
            return DayCount.ACT_365F, RoundingPolicy()
        return owner.day_count, owner.rounding

    def resolve(self, name_or_id: str) -> str | None:
        """A portfolio id from an id, or from any name it has had (renames included)."""
        if name_or_id in self.timelines:
            return name_or_id
        wanted = name_key(name_or_id)
        for pid, timeline in self.timelines.items():
            if any(name_key(n.name) == wanted for n in timeline.names):
                return pid
        return None


def _waived(answer: ScheduleAnswer) -> FeeSchedule | None:
    """The schedule a waiver stands in for, where one applies."""
    return None if not answer.waived or answer.base is None else answer.base.schedule


def _accrue(
    schedule: FeeSchedule | None,
    net_assets: Decimal,
    start: date,
    days: int,
    day_count: DayCount,
    rounding: RoundingPolicy,
) -> Accrual | None:
    if schedule is None:
        return None
    return accrue(
        schedule,
        net_assets,
        start,
        accrual_days=days,
        day_count=day_count,
        rounding=rounding,
    )
