"""Audit answers: which schedule applied, and every version a portfolio has had.

Replay reads the log with XRANGE (no consumer group, never writes) and folds it through the
same `ScheduleBook` every other reader uses; the read-model source hands over the projector's
stored timeline instead, and answers "as known now" from the answers the projector stored with
it (computed by `segments_now`, which follows `ScheduleTimeline`'s precedence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import redis

from services.adapters.keys import Keys
from services.adapters.log import read_log
from services.adapters.readmodel import Lookup, ReadModel, timeline_from_doc
from services.domain.book import ScheduleBook
from services.domain.errors import DomainError
from services.domain.timeline import (
    KnownAt,
    ScheduleAnswer,
    ScheduleTimeline,
    ScheduleVersion,
    VersionKind,
)
from services.mapping import apply_to_book


def replay_book(client: redis.Redis, keys: Keys, until: str = "+") -> ScheduleBook:
    """The whole log (up to `until`, inclusive) folded into a book."""
    book = ScheduleBook()
    for position, message in read_log(client, keys.agreements, until=until):
        apply_to_book(book, message, position)
    return book


@dataclass(frozen=True, slots=True)
class Found:
    """A portfolio's timeline, from whichever source answered."""

    portfolio_id: str
    timeline: ScheduleTimeline
    source: str
    # The read model's document, when it answered: lets `schedule_on` skip unused schedules.
    stored: Lookup | None = None
    # Read model, not yet read (`find_portfolio(full=False)`): each answer is one script call.
    read_model: ReadModel | None = None
    name_or_id: str = ""

    def resolved(self) -> Found:
        """The timeline itself (one script call), for answers the stored ones do not cover."""
        if self.read_model is None:
            return self
        found = self.read_model.lookup(self.name_or_id)
        if found is None:
            raise _unknown(self.name_or_id)
        skeleton = timeline_from_doc(found.document, schedules=False)
        return Found(found.portfolio_id, skeleton, self.source, found)

    def schedule_on(self, on: date, known_at: KnownAt) -> ScheduleAnswer:
        if self.stored is not None:
            return self.stored.schedule_on(on, known_at, self.timeline)
        return self.timeline.schedule_on(on, known_at)


def find_portfolio(
    client: redis.Redis,
    keys: Keys,
    name_or_id: str,
    source: str,
    until: str = "+",
    *,
    full: bool = True,
) -> Found:
    """The portfolio by id or any name it has had; DomainError if the log never named it.

    From the read model with `full` False nothing is read yet: `schedule_json` then reads just
    the answer it needs (and raises the same DomainError for an unknown portfolio).
    """
    if source == "replay":
        book = replay_book(client, keys, until)
        pid = book.resolve(name_or_id)
        if pid is not None:
            return Found(pid, book.timelines[pid], source)
    elif source == "read-model":
        read_model = ReadModel(client, keys)
        if not full:
            return Found(
                name_or_id, ScheduleTimeline(name_or_id), source, None, read_model, name_or_id
            )
        found = read_model.lookup(name_or_id)
        if found is not None:
            return Found(found.portfolio_id, found.timeline, source)
    else:
        raise DomainError("source", source, "must be replay or read-model")
    raise _unknown(name_or_id)


def _unknown(name_or_id: str) -> DomainError:
    return DomainError("portfolio", name_or_id, "is not a portfolio id or name in the log")


def parse_known_at(as_known_at: str | None, at_position: str | None) -> KnownAt:
    if as_known_at is not None and at_position is not None:
        raise DomainError("as_known_at", as_known_at, "give at most one of it and --at-position")
    if at_position is not None:
        ms, _, seq = at_position.partition("-")
        if not ms.isdigit() or not (seq == "" or seq.isdigit()):
            raise DomainError("at_position", at_position, "is not a log entry id (e.g. 1700-0)")
        return at_position if seq else f"{ms}-18446744073709551615"
    if as_known_at is None:
        return None
    try:
        moment = datetime.fromisoformat(as_known_at)
    except ValueError:
        raise DomainError(
            "as_known_at", as_known_at, "is not an ISO timestamp (2026-01-31T12:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def provenance_json(v: ScheduleVersion) -> dict[str, Any]:
    p = v.provenance
    return {
        "agreement_id": p.agreement_id,
        "amendment_number": p.amendment_number,
        "amendment_effective_date": p.effective_date.isoformat(),
        "action": v.action,
        "waiver": v.kind is VersionKind.WAIVER,
        "event_id": p.event_id,
        "position": p.recorded.position,
        "recorded_at": p.recorded.recorded_at.isoformat(),
    }


def schedule_json(found: Found, on: date, known_at: KnownAt) -> dict[str, Any]:
    """The answer to "which schedule applied on `on`, as known at `known_at`"."""
    if found.read_model is not None:
        if known_at is None:
            return _stored_answer(found.read_model, found.name_or_id, on)
        found = found.resolved()
    answer = found.schedule_on(on, known_at)
    version = answer.version
    return {
        "portfolio_id": found.portfolio_id,
        "name": found.timeline.name_on(on, known_at),
        "on": on.isoformat(),
        "known_at": None if known_at is None else str(known_at),
        "source": found.source,
        "removed": version is not None and version.kind is VersionKind.REMOVE,
        "tiers": None if answer.schedule is None else answer.schedule.as_json(),
        "set_by": None if version is None else provenance_json(version),
        "waived_schedule_set_by": None if answer.base is None else provenance_json(answer.base),
    }


def _stored_answer(read_model: ReadModel, name_or_id: str, on: date) -> dict[str, Any]:
    """`schedule_json` as known now, from the answers the projector stored (one script call)."""
    stored = read_model.answer_now(name_or_id, on)
    if stored is None:
        raise _unknown(name_or_id)
    pid, answer = stored
    return {
        "portfolio_id": pid,
        "name": answer["name"],
        "on": on.isoformat(),
        "known_at": None,
        "source": "read-model",
        "removed": answer["removed"],
        "tiers": answer["tiers"],
        "set_by": answer["set_by"],
        "waived_schedule_set_by": answer["waived_schedule_set_by"],
    }


def history_json(found: Found) -> dict[str, Any]:
    """Every version (retracted ones marked) with the dates it governs as known now."""
    found = found.resolved()
    governs = {id(i.version): i for i in found.timeline.intervals()}
    versions = []
    ordered = sorted(found.timeline.versions, key=lambda v: v.provenance.recorded.key)
    for v in ordered:
        interval = governs.get(id(v))
        if v.kind is VersionKind.WAIVER:
            start, end = v.effective_from, v.effective_to
        elif interval is not None:
            start = interval.start
            # The interval's end is exclusive; show the last day it governs.
            end = None if interval.end is None else date.fromordinal(interval.end.toordinal() - 1)
        else:
            start, end = v.effective_from, None
        versions.append(
            {
                **provenance_json(v),
                "kind": v.kind.value,
                "tiers": None if v.schedule is None else v.schedule.as_json(),
                "effective_from": start.isoformat(),
                "effective_to": None if end is None else end.isoformat(),
                "in_force": interval is not None or v.kind is VersionKind.WAIVER,
                "retracted": None
                if v.retracted is None
                else {
                    "position": v.retracted.position,
                    "recorded_at": v.retracted.recorded_at.isoformat(),
                },
            }
        )
    return {
        "portfolio_id": found.portfolio_id,
        "source": found.source,
        "names": [
            {
                "name": n.name,
                "effective_from": n.effective_from.isoformat(),
                "amendment_number": n.provenance.amendment_number,
                "retracted": n.retracted is not None,
            }
            for n in found.timeline.names
        ],
        "versions": versions,
    }
