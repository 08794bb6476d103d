"""The read model's documents: the domain's own state as JSON, and back.

A portfolio's document is its `ScheduleTimeline`, compact: each amendment that touched it and
each distinct schedule appear once, and versions and names refer to them by index:

  {"format": 3, "portfolio_id", "owner",
   "amendments": [[agreement id, number, effective date, event id, recorded at, position]],
   "versions": [[kind, action, schedule index | null, from, to | null, amendment index,
                 retracted: [recorded at, position] | null]],
   "names": [[name, amendment index, retracted]],
   "schedules": [tiers as `FeeSchedule.as_json`]}

An agreement's document is its `Agreement` (terms, version, the portfolios each amendment
changed, the retracted numbers). A portfolio's answers as known now are the segments of
`ScheduleTimeline.segments_now`, each answer in the shape of `mapping.answer_json`.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Sequence
from dataclasses import astuple, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pydantic_core

from services.adapters.connection import text
from services.app.ports import Lookup
from services.domain.agreement import (
    Agreement,
    AmendmentApplied,
    FeeMethodVersion,
    InvoiceTolerance,
    Registration,
    Retracted,
)
from services.domain.basis import FeeBase
from services.domain.book import LogEvent, ScheduleBook
from services.domain.fees import DayCount, FeeSchedule, RoundingPolicy
from services.domain.group import Allocation, GroupTerms
from services.domain.month import AverageOver, FeeMethod
from services.domain.names import name_key
from services.domain.timeline import (
    NameVersion,
    Provenance,
    RecordPoint,
    ScheduleTimeline,
    ScheduleVersion,
    VersionKind,
    segment_answer,
)
from services.mapping import answer_json

FORMAT = 3


def json_text(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


def _mark(point: RecordPoint) -> tuple[str, str]:
    return point.recorded_at.isoformat(), point.position


def _retracted(point: RecordPoint | None) -> tuple[str, str] | None:
    return None if point is None else _mark(point)


def _point(mark: list[str] | None) -> RecordPoint | None:
    return None if mark is None else RecordPoint(datetime.fromisoformat(mark[0]), mark[1])


def _group(terms: GroupTerms | None) -> list[Any]:
    """A group version's terms, written after the others (none for a portfolio's own)."""
    if terms is None:
        return []
    return [[terms.group_id, list(terms.members), terms.allocation.value]]


def _group_from(stored: list[Any]) -> GroupTerms | None:
    if not stored:
        return None
    group_id, members, allocation = stored[0]
    return GroupTerms(group_id, tuple(members), Allocation(allocation))


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def timeline_doc(timeline: ScheduleTimeline) -> str:
    """A portfolio's timeline as its stored document."""
    # Shared by identity: an event's versions share one provenance, and a decoded document's
    # versions share its schedules, so writing what was read gives the same document.
    sources: dict[int, tuple[int, Provenance]] = {}
    schedules: dict[int, tuple[int, FeeSchedule]] = {}

    def source(p: Provenance) -> int:
        return sources.setdefault(id(p), (len(sources), p))[0]

    def schedule(s: FeeSchedule | None) -> int | None:
        return None if s is None else schedules.setdefault(id(s), (len(schedules), s))[0]

    versions = [
        [
            v.kind.value,
            v.action,
            schedule(v.schedule),
            v.effective_from.isoformat(),
            None if v.effective_to is None else v.effective_to.isoformat(),
            source(v.provenance),
            _retracted(v.retracted),
            *_group(v.group),
        ]
        for v in timeline.versions
    ]
    names = [[n.name, source(n.provenance), _retracted(n.retracted)] for n in timeline.names]
    return json_text(
        {
            "format": FORMAT,
            "portfolio_id": timeline.portfolio_id,
            "owner": timeline.owner,
            "amendments": [_source(p) for _, p in sources.values()],
            "versions": versions,
            "names": names,
            "schedules": [s.as_json() for _, s in schedules.values()],
        }
    )


def timeline_from_doc(doc: dict[str, Any]) -> ScheduleTimeline:
    """The timeline a stored document holds."""
    if doc.get("format") != FORMAT:
        raise ValueError(
            f"format: {doc.get('format')!r} is not read-model format {FORMAT};"
            " run `feeschedule projector rebuild`"
        )
    pid = doc["portfolio_id"]
    timeline = ScheduleTimeline(pid)
    timeline.owner = doc["owner"]
    sources = [_provenance(*stored) for stored in doc["amendments"]]
    schedules = [FeeSchedule.from_json(tiers) for tiers in doc["schedules"]]
    for kind, action, t, start, end, s, retracted, *group in doc["versions"]:
        timeline.record(
            ScheduleVersion(
                pid,
                VersionKind(kind),
                action,
                None if t is None else schedules[t],
                date.fromisoformat(start),
                sources[s],
                _day(end),
                _point(retracted),
                _group_from(group),
            )
        )
    for name, s, retracted in doc["names"]:
        p = sources[s]
        timeline.record_name(NameVersion(name, p.effective_date, p, _point(retracted)))
    return timeline


def answers_doc(timeline: ScheduleTimeline) -> str:
    """The answers as known now: segment start dates (ascending, the first 0001-01-01) and the
    answer from each start on."""
    segments, visible = timeline.segments_now()

    @functools.cache  # segments repeat a few versions many times over: each is encoded once
    def answer(at: int | None, waived: int | None, name: str | None) -> dict[str, Any]:
        # The answer's day is not in its JSON: one answer stands for its every segment.
        found = segment_answer(timeline.portfolio_id, date.min, visible, at, waived)
        return answer_json(found, name)

    answers = [answer(s.version, s.base, s.name) for s in segments]
    return json_text({"starts": [s.start.isoformat() for s in segments], "answers": answers})


def portfolio_docs(timelines: list[ScheduleTimeline]) -> dict[str, list[tuple[str, str]]]:
    """The portfolios' documents, by part (as the live projector and a rebuild write them):
    each one's timeline, and its answers as known now."""
    return {
        "portfolios": [(t.portfolio_id, timeline_doc(t)) for t in timelines],
        "now": [(t.portfolio_id, answers_doc(t)) for t in timelines],
    }


def _source(p: Provenance) -> tuple[Any, ...]:
    return (p.agreement_id, p.amendment_number, p.effective_date, p.event_id, *_mark(p.recorded))


def _provenance(
    agreement_id: str, number: int, on: str, event_id: str, at: str, position: str
) -> Provenance:
    """A provenance as `_source` writes it."""
    point = RecordPoint(datetime.fromisoformat(at), position)
    return Provenance(agreement_id, number, date.fromisoformat(on), event_id, point)


def _fee_method(stored: list[Any]) -> FeeMethodVersion:
    method, over, *source = stored
    p = _provenance(*source)
    return FeeMethodVersion(p.effective_date, FeeMethod(method), AverageOver(over), p)


def agreement_doc(agreement: Agreement) -> str:
    # The terms a registration states, in its order: the rounding by name, the tolerance as text.
    terms = {term.name: getattr(agreement, term.name) for term in fields(Registration)}
    return json_text(
        {
            **terms,
            "rounding": agreement.rounding.name,
            "invoice_tolerance": [str(v) for v in astuple(agreement.invoice_tolerance)],
            "fee_methods": [
                [v.method.value, v.average_over.value, *_source(v.provenance)]
                for v in agreement.fee_methods
                if v.provenance is not None
            ],
            "version": agreement.version,
            "amendments": agreement.amendments,
            "retracted": sorted(agreement.retracted),
        }
    )


def agreement_from_doc(doc: dict[str, Any], timelines: dict[str, ScheduleTimeline]) -> Agreement:
    """The agreement a stored document holds, folding into `timelines` (its book's)."""
    return Agreement(
        doc["agreement_id"],
        agreement_date=_day(doc["agreement_date"]),
        trust=doc["trust"],
        adviser=doc["adviser"],
        day_count=DayCount(doc["day_count"]),
        rounding=RoundingPolicy.parse(doc["rounding"]),
        currency=doc["currency"],
        fee_base=FeeBase(doc.get("fee_base", "same_day")),
        fee_method=FeeMethod(doc.get("fee_method", "daily")),
        average_over=AverageOver(doc.get("average_over", "calendar_days")),
        invoice_tolerance=InvoiceTolerance(
            *(Decimal(v) for v in doc.get("invoice_tolerance", ("0.01", "0.01")))
        ),
        fee_methods=[_fee_method(stored) for stored in doc.get("fee_methods", [])],
        version=doc["version"],
        amendments={int(n): tuple(pids) for n, pids in doc["amendments"].items()},
        retracted=set(doc["retracted"]),
        timelines=timelines,
    )


def name_pairs(timelines: Iterable[ScheduleTimeline]) -> dict[str, str]:
    """Name key (and id) -> portfolio id; a name two portfolios have had goes to the greater id,
    as `ScheduleBook.resolve` answers."""
    pairs: dict[str, str] = {}
    for timeline in timelines:
        pid = timeline.portfolio_id
        for key in (pid, *(name_key(n.name) for n in timeline.names)):
            pairs[key] = max(pairs.get(key, pid), pid)
    return pairs


class Documents:
    """What both read models (the `ReadModelStore` port) do with their documents, over each
    one's `_documents` (a generation's documents of a part, by id, None where none is) and
    `_read` ((generation, portfolio id, document, checkpoint) of a portfolio by id or name in
    the current generation, the document "" when it has none)."""

    def _documents(self, generation: str, part: str, ids: list[str]) -> list[str | bytes | None]:
        raise NotImplementedError

    def _read(self, name_or_id: str, part: str) -> tuple[str, str, str, str]:
        raise NotImplementedError

    def load(self, generation: str, events: Sequence[LogEvent]) -> ScheduleBook:
        """The stored agreements and timelines the events will change, as a book to fold them
        into."""
        book, stored = ScheduleBook(), functools.partial(self._documents, generation)
        for doc in stored("agreements", sorted({e.agreement_id for e in events})):
            if doc is not None:
                agreement = agreement_from_doc(pydantic_core.from_json(doc), book.timelines)
                book.agreements[agreement.agreement_id] = agreement
        for doc in stored("portfolios", sorted(touched_portfolios(book, events))):
            if doc is not None:
                timeline = timeline_from_doc(pydantic_core.from_json(doc))
                book.timelines[timeline.portfolio_id] = timeline
        return book

    def _written(self, generation: str, book: ScheduleBook) -> dict[str, list[tuple[str, str]]]:
        """The field-value pairs a write of the book sets, by part: its documents, and its
        names over the ids the same keys already name (the greater id keeps a shared name,
        whichever wrote first)."""
        names = name_pairs(book.timelines.values())
        held = self._documents(generation, "names", list(names))
        merged = {
            key: max(pid, text(other) if other else pid)
            for (key, pid), other in zip(names.items(), held, strict=True)
        }
        return {
            **portfolio_docs([book.timelines[pid] for pid in sorted(book.timelines)]),
            "names": sorted(merged.items()),
            "agreements": [(aid, agreement_doc(a)) for aid, a in sorted(book.agreements.items())],
        }

    def lookup(self, name_or_id: str) -> Lookup | None:
        """The portfolio (by id or any name it has had) from the current generation."""
        gen, pid, doc, checkpoint = self._read(name_or_id, "portfolios")
        if not doc:
            return None
        document = pydantic_core.from_json(doc)
        return Lookup(gen, pid, checkpoint, document, timeline_from_doc(document))

    def answer_now(self, name_or_id: str, on: date) -> tuple[str, dict[str, Any]] | None:
        """(portfolio id, stored answer) for `on` as known now: the last segment starting by
        then (of `answers_doc`); None if unknown."""
        _, pid, doc, _ = self._read(name_or_id, "now")
        if not doc:
            return None
        now = pydantic_core.from_json(doc)
        return pid, now["answers"][bisect.bisect_right(now["starts"], on.isoformat()) - 1]


def touched_portfolios(book: ScheduleBook, events: Sequence[LogEvent]) -> set[str]:
    """The portfolios the events change: those an amendment names, and those of the
    amendments a retraction withdraws (recorded before, or earlier in `events`)."""
    pids: set[str] = set()
    for event in events:
        if isinstance(event, AmendmentApplied):
            pids.update(event.amendment.portfolio_ids)
        elif isinstance(event, Retracted) and event.agreement_id in book.agreements:
            pids.update(
                book.agreements[event.agreement_id].amendments.get(event.amendment_number, ())
            )
    return pids
