"""All agreements and every portfolio's timeline: the one fold of the agreements log.

The recorder (judging a command), the projector (its read model), the fee worker (its
schedules in memory) and the audit replay all fold the log through `ScheduleBook.apply`, so
"which schedule applied" has one answer everywhere.
"""

from __future__ import annotations

from datetime import date

from services.domain.agreement import (
    Agreement,
    Amendment,
    AmendmentApplied,
    LogEvent,
    Registered,
    Registration,
    Retracted,
)
from services.domain.fees import DayCount, RoundingPolicy
from services.domain.names import name_key
from services.domain.timeline import KnownAt, RecordPoint, ScheduleAnswer, ScheduleTimeline

__all__ = [
    "AmendmentApplied",
    "LogEvent",
    "Registered",
    "Registration",
    "Retracted",
    "ScheduleBook",
]


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

    def terms_for(self, portfolio_id: str) -> tuple[DayCount, RoundingPolicy]:
        """Day count and rounding of the agreement that governs the portfolio."""
        timeline = self.timelines.get(portfolio_id)
        owner = None if timeline is None else self.agreements.get(timeline.owner or "")
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
