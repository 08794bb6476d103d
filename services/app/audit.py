"""Audit queries: which schedule applied on a day (as known at any moment), every version a
portfolio has had, and which portfolio a name means; and the reading of the day and the
moment a query (on the command line or the site) asks about.

The replay folds the log (through the `EventLog` port, never writing) with the same
`ScheduleBook` every reader uses; the read model answers from what the projector stored
(its answers as known now, or the stored timeline), so both sources agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.app.ports import EventLog, ReadModelStore
from services.app.projection import read_events
from services.domain.book import AmendmentApplied, Retracted, ScheduleBook
from services.domain.errors import DomainError
from services.domain.timeline import KnownAt, RecordPoint, ScheduleTimeline, VersionKind
from services.mapping import answer_json, provenance_json

SOURCES = ("replay", "read-model")
# The greatest sequence number of a stream entry id: "ms-LAST_SEQUENCE" is the last entry a log
# can hold at millisecond ms.
LAST_SEQUENCE = 2**64 - 1


@dataclass
class LogFold:
    """The log up to `until` (inclusive) folded into a `ScheduleBook`, with every amendment and
    retraction as read; unreadable entries are skipped, as the projector skips them.

    `refresh` reads only what was appended since its last position (`EventLog.entries`: XRANGE,
    no consumer group), so each request can bring the fold up to date cheaply; the site runs
    one request at a time (`services.web.app`'s lock), so no two fold at once.
    """

    log: EventLog
    until: str = "+"
    book: ScheduleBook = field(default_factory=ScheduleBook)
    position: str | None = None
    amendments: list[AmendmentApplied] = field(default_factory=list)
    retractions: list[Retracted] = field(default_factory=list)

    def refresh(self, page: int = 1000) -> LogFold:
        """Fold the entries appended since the last refresh."""
        while rows := self.log.entries(self.position, self.until, page):
            for event in read_events(rows, None):
                self.book.apply(event)
                if isinstance(event, AmendmentApplied):
                    self.amendments.append(event)
                elif isinstance(event, Retracted):
                    self.retractions.append(event)
            self.position = rows[-1][0]
        return self

    def timeline(self, name_or_id: str) -> ScheduleTimeline:
        pid = self.book.resolve(name_or_id)
        if pid is None:
            raise unknown(name_or_id)
        return self.book.timelines[pid]

    def amendment(self, agreement_id: str, number: int) -> AmendmentApplied:
        for applied in self.amendments:
            if applied.agreement_id == agreement_id and applied.amendment.number == number:
                return applied
        raise DomainError("amendment", f"{agreement_id} No. {number}", "is not in the log")

    def retraction_of(self, agreement_id: str, number: int) -> Retracted | None:
        for r in self.retractions:
            if r.agreement_id == agreement_id and r.amendment_number == number:
                return r
        return None


def replay_book(log: EventLog, until: str = "+", page: int = 1000) -> ScheduleBook:
    """The log up to `until` (inclusive) folded into a book."""
    return LogFold(log, until).refresh(page).book


@dataclass(frozen=True, slots=True)
class Source:
    """Where answers come from: the log replayed (up to `until`) or the read model."""

    name: str
    log: EventLog
    read_model: ReadModelStore
    until: str = "+"

    def __post_init__(self) -> None:
        if self.name not in SOURCES:
            raise DomainError("source", self.name, "must be replay or read-model")

    def timeline(self, name_or_id: str) -> ScheduleTimeline:
        """The portfolio's timeline by id or any name it has had; DomainError if unknown."""
        if self.name == "replay":
            return LogFold(self.log, self.until).refresh().timeline(name_or_id)
        found = self.read_model.lookup(name_or_id)
        if found is None:
            raise unknown(name_or_id)
        return found.timeline


def unknown(name_or_id: str) -> DomainError:
    return DomainError("portfolio", name_or_id, "is not a portfolio id or name in the log")


def parse_date(field: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(field, value, "is not a date (YYYY-MM-DD)") from None


def parse_known_at(as_known_at: str | None, at_position: str | None) -> KnownAt:
    if as_known_at is not None and at_position is not None:
        raise DomainError("as_known_at", as_known_at, "give at most one of it and --at-position")
    if at_position is not None:
        ms, _, seq = at_position.partition("-")
        if not ms.isdigit() or not (seq == "" or seq.isdigit()):
            raise DomainError("at_position", at_position, "is not a log entry id (e.g. 1700-0)")
        return at_position if seq else f"{ms}-{LAST_SEQUENCE}"
    if as_known_at is None:
        return None
    try:
        moment = datetime.fromisoformat(as_known_at)
    except ValueError:
        raise DomainError(
            "as_known_at", as_known_at, "is not an ISO timestamp (2026-01-31T12:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def schedule_on(source: Source, name_or_id: str, on: date, known_at: KnownAt) -> dict[str, Any]:
    """The answer to "which schedule applied on `on`, as known at `known_at`"."""
    if source.name == "read-model" and known_at is None:
        # As known now: the answer the projector stored, in one script call.
        stored = source.read_model.answer_now(name_or_id, on)
        if stored is None:
            raise unknown(name_or_id)
        pid, answer = stored
    else:
        timeline = source.timeline(name_or_id)
        pid = timeline.portfolio_id
        answer = answer_json(timeline.schedule_on(on, known_at), timeline.name_on(on, known_at))
    return {
        "portfolio_id": pid,
        "name": answer["name"],
        "on": on.isoformat(),
        "known_at": None if known_at is None else str(known_at),
        "source": source.name,
        **{k: v for k, v in answer.items() if k != "name"},
    }


def governed(
    timeline: ScheduleTimeline, known_at: KnownAt = None
) -> dict[int, tuple[date, date | None]]:
    """id(version) -> the first and last day (None: onwards) each base version governs as
    known at `known_at`: its interval of the timeline. A waiver governs its own period and a
    version superseded on its first day governs nothing, so neither is here."""
    # An interval's end is exclusive; the last day it governs is the day before.
    return {
        id(i.version): (i.start, None if i.end is None else i.end - timedelta(days=1))
        for i in timeline.intervals(known_at)
    }


def retraction_json(point: RecordPoint | None) -> dict[str, str] | None:
    """Where and when a fact was retracted, as the history and the site show it."""
    if point is None:
        return None
    return {"position": point.position, "recorded_at": point.recorded_at.isoformat()}


def history(source: Source, name_or_id: str) -> dict[str, Any]:
    """Every version (retracted ones marked) with the dates it governs as known now."""
    timeline = source.timeline(name_or_id)
    governs = governed(timeline)
    versions = []
    for v in sorted(timeline.versions, key=lambda v: v.provenance.recorded.key):
        start, end = governs.get(id(v), (v.effective_from, v.effective_to))
        versions.append(
            {
                **provenance_json(v),
                "kind": v.kind.value,
                "tiers": None if v.schedule is None else v.schedule.as_json(),
                "effective_from": start.isoformat(),
                "effective_to": None if end is None else end.isoformat(),
                "in_force": id(v) in governs or v.kind is VersionKind.WAIVER,
                "retracted": retraction_json(v.retracted),
            }
        )
    names = [
        {
            "name": n.name,
            "effective_from": n.effective_from.isoformat(),
            "amendment_number": n.provenance.amendment_number,
            "retracted": n.retracted is not None,
        }
        for n in timeline.names
    ]
    return {
        "portfolio_id": timeline.portfolio_id,
        "source": source.name,
        "names": names,
        "versions": versions,
    }
