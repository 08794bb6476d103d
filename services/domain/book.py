"""All agreements and every portfolio's timeline, built by applying the log in order.

The audit replay, the fee worker's in-memory schedules and the tests all fold the same log
through `ScheduleBook`, so "which schedule applied" has one answer everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.domain.agreement import Agreement, Amendment, names_of, versions_of
from services.domain.fees import DayCount, RoundingPolicy
from services.domain.timeline import (
    KnownAt,
    NameVersion,
    Provenance,
    RecordPoint,
    ScheduleAnswer,
    ScheduleTimeline,
)


@dataclass(frozen=True, slots=True)
class Registration:
    agreement_id: str
    agreement_date: date | None
    trust: str | None
    adviser: str | None
    day_count: DayCount
    rounding: RoundingPolicy


class ScheduleBook:
    """Agreements by id, and one timeline per portfolio across all agreements."""

    def __init__(self) -> None:
        self.agreements: dict[str, Agreement] = {}
        self.timelines: dict[str, ScheduleTimeline] = {}
        # Which agreement governs a portfolio's fee (for day count and rounding).
        self.owner: dict[str, str] = {}
        self.last_point: RecordPoint | None = None

    def agreement(self, agreement_id: str) -> Agreement:
        if agreement_id not in self.agreements:
            self.agreements[agreement_id] = Agreement(agreement_id)
        return self.agreements[agreement_id]

    def timeline(self, portfolio_id: str) -> ScheduleTimeline:
        if portfolio_id not in self.timelines:
            self.timelines[portfolio_id] = ScheduleTimeline(portfolio_id)
        return self.timelines[portfolio_id]

    def register(self, reg: Registration, point: RecordPoint) -> None:
        self.agreement(reg.agreement_id).register(
            agreement_date=reg.agreement_date,
            trust=reg.trust,
            adviser=reg.adviser,
            day_count=reg.day_count,
            rounding=reg.rounding,
        )
        self.last_point = point

    def record_amendment(self, amendment: Amendment, event_id: str, point: RecordPoint) -> None:
        self.agreement(amendment.agreement_id).apply_amendment(amendment, event_id, point)
        provenance = Provenance(
            amendment.agreement_id, amendment.number, amendment.effective_date, event_id, point
        )
        for version in versions_of(amendment, provenance):
            self.timeline(version.portfolio_id).record(version)
            if version.kind.value != "waiver":
                self.owner.setdefault(version.portfolio_id, amendment.agreement_id)
        for pid, name in names_of(amendment):
            self.timeline(pid).record_name(NameVersion(name, amendment.effective_date, provenance))
        self.last_point = point

    def retract(self, agreement_id: str, amendment_number: int, point: RecordPoint) -> None:
        self.agreement(agreement_id).apply_retraction(amendment_number, point)
        for timeline in self.timelines.values():
            timeline.retract(agreement_id, amendment_number, point)
        self.last_point = point

    def schedule_on(self, portfolio_id: str, on: date, known_at: KnownAt = None) -> ScheduleAnswer:
        timeline = self.timelines.get(portfolio_id)
        if timeline is None:
            return ScheduleAnswer(portfolio_id, on, None, None)
        return timeline.schedule_on(on, known_at)

    def terms_for(self, portfolio_id: str) -> tuple[DayCount, RoundingPolicy]:
        """Day count and rounding of the agreement that governs the portfolio."""
        owner = self.agreements.get(self.owner.get(portfolio_id, ""))
        if owner is None:
            return DayCount.ACT_365F, RoundingPolicy()
        return owner.day_count, owner.rounding

    def resolve(self, name_or_id: str) -> str | None:
        """A portfolio id from an id, or from any name it has had (renames included)."""
        if name_or_id in self.timelines:
            return name_or_id
        wanted = _fold(name_or_id)
        for pid, timeline in self.timelines.items():
            if any(_fold(n.name) == wanted for n in timeline.names):
                return pid
        return None


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()
