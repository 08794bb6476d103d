"""The management agreement as an aggregate: it accepts amendments only when they can be true.

An `Agreement` is rebuilt from its recorded events (`register`, `apply_amendment`,
`apply_retraction`); `check_amendment` and `check_retraction` say, before anything is appended,
whether a new one may be recorded, and if not, which field and value break which rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Literal, TypeAlias

from services.domain.basis import FeeBase
from services.domain.errors import DomainError
from services.domain.fees import DEFAULT_ROUNDING, DayCount, FeeSchedule, RoundingPolicy
from services.domain.group import GroupTerms
from services.domain.month import AverageOver, FeeMethod
from services.domain.timeline import (
    NameVersion,
    Provenance,
    RecordPoint,
    ScheduleTimeline,
    ScheduleVersion,
    VersionKind,
)

SetAction: TypeAlias = Literal["add", "revise", "replace"]


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """The filed document an amendment was read from."""

    title: str | None = None
    sha256: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class SetSchedule:
    """Add a portfolio, revise its fee, or replace its schedule in whole."""

    portfolio_id: str
    portfolio_name: str
    schedule: FeeSchedule
    action: SetAction = "revise"


@dataclass(frozen=True, slots=True)
class RemovePortfolio:
    portfolio_id: str


@dataclass(frozen=True, slots=True)
class RenamePortfolio:
    """A new name for the same portfolio (its id stays)."""

    portfolio_id: str
    new_name: str
    former_name: str | None = None


@dataclass(frozen=True, slots=True)
class GrantWaiver:
    """A lower schedule that applies instead of the agreed one from `period_from` to `period_to`."""

    portfolio_id: str
    schedule: FeeSchedule
    period_from: date
    period_to: date
    portfolio_name: str | None = None


@dataclass(frozen=True, slots=True)
class SetFeeMethod:
    """The agreement's fee method from the amendment's effective date (services.domain.month)."""

    method: FeeMethod
    average_over: AverageOver = AverageOver.CALENDAR_DAYS

    @property
    def portfolio_id(self) -> str:
        return ""  # the agreement's, no portfolio's


@dataclass(frozen=True, slots=True)
class FeeMethodVersion:
    """A fee method in force from `effective`, and the amendment that set it (provenance
    None: the registration's)."""

    effective: date
    method: FeeMethod
    average_over: AverageOver
    provenance: Provenance | None = None

    @property
    def amendment_number(self) -> int | None:
        return None if self.provenance is None else self.provenance.amendment_number


@dataclass(frozen=True, slots=True)
class SetGroupSchedule:
    """A schedule on the combined assets of `group.members`, each member paying its share
    (services.domain.group); a member named here leaves its own schedule for the group's."""

    group: GroupTerms
    schedule: FeeSchedule

    @property
    def portfolio_id(self) -> str:
        return ""  # the group's, no one portfolio's


Change: TypeAlias = (
    SetSchedule | RemovePortfolio | RenamePortfolio | GrantWaiver | SetFeeMethod | SetGroupSchedule
)


@dataclass(frozen=True, slots=True)
class Amendment:
    agreement_id: str
    number: int
    effective_date: date
    changes: tuple[Change, ...]
    executed_date: date | None = None
    source: SourceDocument = field(default_factory=SourceDocument)

    @property
    def portfolio_ids(self) -> tuple[str, ...]:
        """The portfolios the amendment changes (a group's members included)."""
        ids = {c.portfolio_id for c in self.changes if c.portfolio_id}
        ids.update(*(c.group.members for c in self.changes if isinstance(c, SetGroupSchedule)))
        return tuple(sorted(ids))


@dataclass(frozen=True, slots=True)
class Registration:
    agreement_id: str
    agreement_date: date | None
    trust: str | None
    adviser: str | None
    day_count: DayCount
    rounding: RoundingPolicy
    currency: str = "USD"
    fee_base: FeeBase = FeeBase.SAME_DAY
    fee_method: FeeMethod = FeeMethod.DAILY
    average_over: AverageOver = AverageOver.CALENDAR_DAYS
    invoice_tolerance: InvoiceTolerance = field(default_factory=lambda: InvoiceTolerance())


@dataclass(frozen=True, slots=True)
class InvoiceTolerance:
    """How far an invoice may be from its month's fee and still match: the larger of an amount
    and a percent of the fee."""

    amount: Decimal = Decimal("0.01")
    pct: Decimal = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Registered:
    registration: Registration
    point: RecordPoint

    @property
    def agreement_id(self) -> str:
        return self.registration.agreement_id


@dataclass(frozen=True, slots=True)
class AmendmentApplied:
    amendment: Amendment
    event_id: str
    point: RecordPoint

    @property
    def agreement_id(self) -> str:
        return self.amendment.agreement_id


@dataclass(frozen=True, slots=True)
class Retracted:
    agreement_id: str
    amendment_number: int
    point: RecordPoint


# What the agreements log records, as the domain reads it.
LogEvent: TypeAlias = Registered | AmendmentApplied | Retracted


@dataclass
class Agreement:
    """One management agreement: its terms, the amendments it has recorded, and the rules
    an amendment, a retraction or a registration must keep.

    `timelines` is shared with the `ScheduleBook` the agreement belongs to (one timeline per
    portfolio across agreements), so an amendment is folded into it once.
    """

    agreement_id: str
    agreement_date: date | None = None
    trust: str | None = None
    adviser: str | None = None
    day_count: DayCount = DayCount.ACT_365F
    rounding: RoundingPolicy = DEFAULT_ROUNDING
    version: int = 0
    # The currency of the breakpoints: a report in another one cannot be priced on them.
    currency: str = "USD"
    # Whose net assets price an accrual's days (the report's own, or the one before it).
    fee_base: FeeBase = FeeBase.SAME_DAY
    # How the month's fee is computed (services.domain.month), and its average's days, as
    # registered; amendments may change it from their effective dates (`fee_methods`).
    fee_method: FeeMethod = FeeMethod.DAILY
    average_over: AverageOver = AverageOver.CALENDAR_DAYS
    fee_methods: list[FeeMethodVersion] = field(default_factory=list)
    invoice_tolerance: InvoiceTolerance = field(default_factory=lambda: InvoiceTolerance())
    # Amendment number -> the portfolios it changed (a retraction withdraws their facts).
    amendments: dict[int, tuple[str, ...]] = field(default_factory=dict)
    retracted: set[int] = field(default_factory=set)
    timelines: dict[str, ScheduleTimeline] = field(default_factory=dict)

    # ---- rules -------------------------------------------------------------------------

    def _on_schedule(self, portfolio_id: str, on: date) -> bool:
        timeline = self.timelines.get(portfolio_id)
        if timeline is None:
            return False
        # A removal is a version too, but it leaves the portfolio off the schedule; and a
        # portfolio another agreement prices now is not on this one's schedule.
        answer = timeline.schedule_on(on)
        governing = answer.base or answer.version
        return (
            answer.schedule is not None
            and governing is not None
            and governing.provenance.agreement_id == self.agreement_id
        )

    def check_registration(self) -> None:
        if self.version > 0:
            raise DomainError(
                "agreement_id", self.agreement_id, "is already registered (differently)"
            )

    def check_amendment(self, amendment: Amendment) -> None:
        """Raise DomainError naming the field and value if `amendment` cannot be recorded."""
        self._check_header(amendment)
        on = amendment.effective_date
        # Changes inside one amendment may build on each other (add, then rename).
        added: set[str] = set()
        for i, change in enumerate(amendment.changes):
            where = f"changes[{i}]"
            if isinstance(change, SetGroupSchedule):
                _check_members(change.group.members, where)
            if isinstance(change, SetFeeMethod | SetGroupSchedule):
                continue  # not one portfolio's change: nothing to check against its schedule
            if not change.portfolio_id:
                raise DomainError(f"{where}.portfolio_id", change.portfolio_id, "must not be empty")
            known = change.portfolio_id in added or self._on_schedule(change.portfolio_id, on)
            _check_change(change, where, known, on)
            if isinstance(change, SetSchedule):
                added.add(change.portfolio_id)

    def _check_header(self, amendment: Amendment) -> None:
        if amendment.agreement_id != self.agreement_id:
            raise DomainError("agreement_id", amendment.agreement_id, "is not this agreement")
        if self.version == 0:
            raise DomainError(
                "agreement_id", self.agreement_id, "is not registered; register the agreement first"
            )
        if amendment.number < 0:
            raise DomainError("amendment_number", amendment.number, "must not be negative")
        if amendment.number in self.amendments:
            raise DomainError(
                "amendment_number",
                amendment.number,
                f"is already recorded for agreement {self.agreement_id!r}"
                " (retract it first to record a correction)",
            )
        if self.agreement_date is not None and amendment.effective_date < self.agreement_date:
            raise DomainError(
                "effective_date",
                amendment.effective_date.isoformat(),
                f"is before the agreement date {self.agreement_date.isoformat()}",
            )
        if not amendment.changes:
            raise DomainError("changes", [], "an amendment must change something")

    def check_retraction(self, amendment_number: int) -> None:
        if amendment_number not in self.amendments:
            state = "already retracted" if amendment_number in self.retracted else "not recorded"
            raise DomainError(
                "amendment_number",
                amendment_number,
                f"is {state} for agreement {self.agreement_id!r}; nothing to retract",
            )

    # ---- state changes (from recorded events) --------------------------------------------

    def apply(self, event: LogEvent) -> None:
        """Fold one recorded event: the one path every reader of the log takes."""
        if isinstance(event, Registered):
            self.register(event.registration)
        elif isinstance(event, AmendmentApplied):
            self.apply_amendment(event.amendment, event.event_id, event.point)
        else:
            self.apply_retraction(event.amendment_number, event.point)

    def register(self, terms: Registration) -> None:
        """Take the terms a registration states (its agreement id is this one's)."""
        for term in fields(Registration):  # each term of a registration is one of the agreement's
            if term.name != "agreement_id":
                setattr(self, term.name, getattr(terms, term.name))
        self.version += 1

    def fee_method_on(self, on: date) -> FeeMethodVersion:
        """The fee method in force on `on`: the last amendment's effective by then, else the
        registration's."""
        found = FeeMethodVersion(date.min, self.fee_method, self.average_over)
        for version in self.fee_methods:  # in log order: of one date, the later recorded wins
            if found.effective <= version.effective <= on:
                found = version
        return found

    def timeline(self, portfolio_id: str) -> ScheduleTimeline:
        if portfolio_id not in self.timelines:
            self.timelines[portfolio_id] = ScheduleTimeline(portfolio_id)
        return self.timelines[portfolio_id]

    def apply_amendment(self, amendment: Amendment, event_id: str, point: RecordPoint) -> None:
        provenance = Provenance(
            self.agreement_id, amendment.number, amendment.effective_date, event_id, point
        )
        for version in versions_of(amendment, provenance):
            timeline = self.timeline(version.portfolio_id)
            timeline.record(version)
            if version.kind is not VersionKind.WAIVER and timeline.owner is None:
                # The first agreement to set a portfolio's schedule governs its fee terms.
                timeline.owner = self.agreement_id
        for pid, name in names_of(amendment):
            self.timeline(pid).record_name(NameVersion(name, amendment.effective_date, provenance))
        self.fee_methods += [
            FeeMethodVersion(amendment.effective_date, c.method, c.average_over, provenance)
            for c in amendment.changes
            if isinstance(c, SetFeeMethod)
        ]
        self.amendments[amendment.number] = amendment.portfolio_ids
        self.retracted.discard(amendment.number)
        self.version += 1

    def apply_retraction(self, amendment_number: int, point: RecordPoint) -> None:
        for pid in self.amendments.pop(amendment_number, ()):
            self.timeline(pid).retract(self.agreement_id, amendment_number, point)
        self.fee_methods = [v for v in self.fee_methods if v.amendment_number != amendment_number]
        self.retracted.add(amendment_number)
        self.version += 1


def _check_change(change: Change, where: str, known: bool, on: date) -> None:
    """The rule of one change, given whether its portfolio is on the schedule on `on`."""
    pid = change.portfolio_id
    if isinstance(change, SetSchedule):
        if change.action == "add" and known:
            raise DomainError(f"{where}.portfolio_id", pid, f"is already on the schedule on {on}")
        if change.action == "revise" and not known:
            raise DomainError(
                f"{where}.portfolio_id",
                pid,
                f"is not on the schedule on {on}; it cannot be revised (add it instead)",
            )
    elif isinstance(change, RemovePortfolio | RenamePortfolio):
        if not known:
            verb = "removed" if isinstance(change, RemovePortfolio) else "renamed"
            raise DomainError(
                f"{where}.portfolio_id", pid, f"is not on the schedule on {on}; cannot be {verb}"
            )
        if isinstance(change, RenamePortfolio) and not change.new_name.strip():
            raise DomainError(f"{where}.new_name", change.new_name, "must not be empty")
    elif isinstance(change, GrantWaiver) and change.period_to < change.period_from:
        raise DomainError(
            f"{where}.period.to",
            change.period_to.isoformat(),
            f"ends before the waiver starts ({change.period_from.isoformat()})",
        )


def _check_members(members: tuple[str, ...], where: str) -> None:
    if not members or len(set(members)) != len(members) or not all(members):
        raise DomainError(
            f"{where}.members", list(members), "must name distinct portfolios, at least one"
        )


def versions_of(amendment: Amendment, provenance: Provenance) -> Iterator[ScheduleVersion]:
    """The schedule facts an amendment states, one per portfolio it prices or removes (each
    member of a group it prices)."""
    fact = partial(ScheduleVersion, effective_from=amendment.effective_date, provenance=provenance)
    for change in amendment.changes:
        if isinstance(change, SetGroupSchedule):
            for pid in change.group.members:
                yield fact(pid, VersionKind.SET, "group", change.schedule, group=change.group)
        elif isinstance(change, SetSchedule):
            yield fact(change.portfolio_id, VersionKind.SET, change.action, change.schedule)
        elif isinstance(change, RemovePortfolio):
            yield fact(change.portfolio_id, VersionKind.REMOVE, "remove", None)
        elif isinstance(change, GrantWaiver):
            yield fact(
                change.portfolio_id,
                VersionKind.WAIVER,
                "waiver",
                change.schedule,
                effective_from=change.period_from,
                effective_to=change.period_to,
            )


def names_of(amendment: Amendment) -> Iterator[tuple[str, str]]:
    """(portfolio id, name) pairs an amendment states, renames included."""
    for change in amendment.changes:
        if isinstance(change, SetSchedule | GrantWaiver) and change.portfolio_name:
            yield change.portfolio_id, change.portfolio_name
        elif isinstance(change, RenamePortfolio):
            yield change.portfolio_id, change.new_name
