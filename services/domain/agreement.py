"""The management agreement as an aggregate: it accepts amendments only when they can be true.

An `Agreement` is rebuilt from its recorded events (`register`, `apply_amendment`,
`apply_retraction`); `check_amendment` and `check_retraction` say, before anything is appended,
whether a new one may be recorded, and if not, which field and value break which rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal, TypeAlias

from services.domain.errors import DomainError
from services.domain.fees import DEFAULT_ROUNDING, DayCount, FeeSchedule, RoundingPolicy
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


Change: TypeAlias = SetSchedule | RemovePortfolio | RenamePortfolio | GrantWaiver


@dataclass(frozen=True, slots=True)
class Amendment:
    agreement_id: str
    number: int
    effective_date: date
    changes: tuple[Change, ...]
    executed_date: date | None = None
    source: SourceDocument = field(default_factory=SourceDocument)


@dataclass
class Agreement:
    """One management agreement and the portfolios on its fee schedule."""

    agreement_id: str
    agreement_date: date | None = None
    trust: str | None = None
    adviser: str | None = None
    day_count: DayCount = DayCount.ACT_365F
    rounding: RoundingPolicy = DEFAULT_ROUNDING
    version: int = 0
    amendments: dict[int, Amendment] = field(default_factory=dict)
    retracted: set[int] = field(default_factory=set)
    timelines: dict[str, ScheduleTimeline] = field(default_factory=dict)

    # ---- rules -------------------------------------------------------------------------

    def _on_schedule(self, portfolio_id: str, on: date) -> bool:
        timeline = self.timelines.get(portfolio_id)
        # A removal is a version too, but it leaves the portfolio off the schedule.
        return timeline is not None and timeline.schedule_on(on).schedule is not None

    def check_amendment(self, amendment: Amendment) -> None:
        """Raise DomainError naming the field and value if `amendment` cannot be recorded."""
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
        on = amendment.effective_date
        # Changes inside one amendment may build on each other (add, then rename).
        added: set[str] = set()
        for i, change in enumerate(amendment.changes):
            where = f"changes[{i}]"
            pid = change.portfolio_id
            known = pid in added or self._on_schedule(pid, on)
            if not pid:
                raise DomainError(f"{where}.portfolio_id", pid, "must not be empty")
            if isinstance(change, SetSchedule):
                if change.action == "add" and known:
                    raise DomainError(
                        f"{where}.portfolio_id", pid, f"is already on the schedule on {on}"
                    )
                if change.action == "revise" and not known:
                    raise DomainError(
                        f"{where}.portfolio_id",
                        pid,
                        f"is not on the schedule on {on}; it cannot be revised (add it instead)",
                    )
                added.add(pid)
            elif isinstance(change, RemovePortfolio | RenamePortfolio):
                if not known:
                    verb = "removed" if isinstance(change, RemovePortfolio) else "renamed"
                    raise DomainError(
                        f"{where}.portfolio_id",
                        pid,
                        f"is not on the schedule on {on}; cannot be {verb}",
                    )
                if isinstance(change, RenamePortfolio) and not change.new_name.strip():
                    raise DomainError(f"{where}.new_name", change.new_name, "must not be empty")
            elif change.period_to < change.period_from:
                raise DomainError(
                    f"{where}.period.to",
                    change.period_to.isoformat(),
                    f"ends before the waiver starts ({change.period_from.isoformat()})",
                )

    def check_retraction(self, amendment_number: int) -> None:
        if amendment_number not in self.amendments:
            state = "already retracted" if amendment_number in self.retracted else "not recorded"
            raise DomainError(
                "amendment_number",
                amendment_number,
                f"is {state} for agreement {self.agreement_id!r}; nothing to retract",
            )

    # ---- state changes (from recorded events) --------------------------------------------

    def register(
        self,
        *,
        agreement_date: date | None,
        trust: str | None,
        adviser: str | None,
        day_count: DayCount,
        rounding: RoundingPolicy,
    ) -> None:
        self.agreement_date = agreement_date
        self.trust = trust
        self.adviser = adviser
        self.day_count = day_count
        self.rounding = rounding
        self.version += 1

    def timeline(self, portfolio_id: str) -> ScheduleTimeline:
        if portfolio_id not in self.timelines:
            self.timelines[portfolio_id] = ScheduleTimeline(portfolio_id)
        return self.timelines[portfolio_id]

    def apply_amendment(self, amendment: Amendment, event_id: str, point: RecordPoint) -> None:
        provenance = Provenance(
            self.agreement_id, amendment.number, amendment.effective_date, event_id, point
        )
        for version in versions_of(amendment, provenance):
            self.timeline(version.portfolio_id).record(version)
        for pid, name in names_of(amendment):
            self.timeline(pid).record_name(NameVersion(name, amendment.effective_date, provenance))
        self.amendments[amendment.number] = amendment
        self.retracted.discard(amendment.number)
        self.version += 1

    def apply_retraction(self, amendment_number: int, point: RecordPoint) -> None:
        for timeline in self.timelines.values():
            timeline.retract(self.agreement_id, amendment_number, point)
        self.amendments.pop(amendment_number, None)
        self.retracted.add(amendment_number)
        self.version += 1


def versions_of(amendment: Amendment, provenance: Provenance) -> list[ScheduleVersion]:
    """The schedule facts an amendment states, one per portfolio it prices or removes."""
    on = amendment.effective_date
    out: list[ScheduleVersion] = []
    for change in amendment.changes:
        if isinstance(change, SetSchedule):
            out.append(
                ScheduleVersion(
                    change.portfolio_id,
                    VersionKind.SET,
                    change.action,
                    change.schedule,
                    on,
                    provenance,
                )
            )
        elif isinstance(change, RemovePortfolio):
            out.append(
                ScheduleVersion(
                    change.portfolio_id, VersionKind.REMOVE, "remove", None, on, provenance
                )
            )
        elif isinstance(change, GrantWaiver):
            out.append(
                ScheduleVersion(
                    change.portfolio_id,
                    VersionKind.WAIVER,
                    "waiver",
                    change.schedule,
                    change.period_from,
                    provenance,
                    effective_to=change.period_to,
                )
            )
    return out


def names_of(amendment: Amendment) -> list[tuple[str, str]]:
    """(portfolio id, name) pairs an amendment states, renames included."""
    out: list[tuple[str, str]] = []
    for change in amendment.changes:
        if isinstance(change, SetSchedule) and change.portfolio_name:
            out.append((change.portfolio_id, change.portfolio_name))
        elif isinstance(change, RenamePortfolio):
            out.append((change.portfolio_id, change.new_name))
        elif isinstance(change, GrantWaiver) and change.portfolio_name:
            out.append((change.portfolio_id, change.portfolio_name))
    return out
