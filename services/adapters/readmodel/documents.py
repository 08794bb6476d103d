"""The stored document of a portfolio, and its conversions to and from the domain timeline.

A stored document (format 2) is compact: each amendment that touched the portfolio and each
distinct fee schedule appear once, and versions and names refer to them by index:

  {"format": 2, "portfolio_id", "owner", "latest": index of the current base version | null,
   "amendments": [[agreement id, number, effective date, event id, recorded at, position]],
   "versions": [[kind, action, schedule index | null, from, to | null, amendment index,
                 retracted: [recorded at, position] | null]],
   "names": [[name, amendment index, retracted]],
   "schedules": [tiers as `FeeSchedule.as_json`]}

Format 1 documents (one object per version, provenance restated) are still read, so an
older generation keeps answering until the next rebuild replaces it.

A portfolio is folded as `PortfolioRows`, the rows of its document (not domain objects): a
rebuild then never builds a FeeSchedule or a dataclass per event. `document` serializes the
rows once, and `derived` adds the answers as known now (for the `:now` hash).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

import pydantic_core

from services.domain.fees import FeeSchedule
from services.domain.timeline import (
    Fact,
    NameFact,
    NameVersion,
    Provenance,
    RecordPoint,
    ScheduleTimeline,
    ScheduleVersion,
    VersionKind,
    position_key,
    segments_now,
)


def json_text(value: Any) -> str:
    """A value as compact JSON text (as every stored document and answer is written)."""
    return pydantic_core.to_json(value).decode()


DOC_FORMAT = 2


class Source(NamedTuple):
    """The amendment event a version or name comes from (its provenance, as stored)."""

    agreement_id: str
    amendment_number: int
    effective_date: str
    event_id: str
    recorded_at: str
    position: str


# A retraction: (recorded at, position) of the entry that withdrew the fact.
Mark = tuple[str, str]


class VersionRow(NamedTuple):
    """A schedule version (as `ScheduleVersion`) as its document stores it: dates as text."""

    kind: str
    action: str
    # The schedule as the JSON text of `FeeSchedule.as_json()`; None for a removal.
    tiers: str | None
    effective_from: str
    effective_to: str | None
    source: Source
    retracted: Mark | None = None


class NameRow(NamedTuple):
    """A name from its amendment's effective date on."""

    name: str
    source: Source
    retracted: Mark | None = None


def _mark(point: RecordPoint) -> Mark:
    return (point.recorded_at.isoformat(), point.position)


def source_of(p: Provenance) -> Source:
    return Source(
        p.agreement_id,
        p.amendment_number,
        p.effective_date.isoformat(),
        p.event_id,
        p.recorded.recorded_at.isoformat(),
        p.recorded.position,
    )


def _point(mark: Sequence[str] | None) -> RecordPoint | None:
    return None if mark is None else RecordPoint(datetime.fromisoformat(mark[0]), mark[1])


def _provenance(s: Source) -> Provenance:
    return Provenance(
        s.agreement_id,
        s.amendment_number,
        date.fromisoformat(s.effective_date),
        s.event_id,
        RecordPoint(datetime.fromisoformat(s.recorded_at), s.position),
    )


def version_row(v: ScheduleVersion, source: Source) -> VersionRow:
    return VersionRow(
        v.kind.value,
        v.action,
        None if v.schedule is None else json_text(v.schedule.as_json()),
        v.effective_from.isoformat(),
        None if v.effective_to is None else v.effective_to.isoformat(),
        source,
        None if v.retracted is None else _mark(v.retracted),
    )


def timeline_from_doc(doc: dict[str, Any], *, schedules: bool = True) -> ScheduleTimeline:
    """The stored timeline; without `schedules` the versions carry no FeeSchedule (cheaper:
    which version answers never depends on its tiers, so `Lookup.schedule_on` fills in just
    the one it needs)."""
    rows = PortfolioRows.from_doc(doc)
    return rows.timeline(doc["portfolio_id"], schedules=schedules)


_KINDS = {k.value: k for k in VersionKind}
_day = functools.lru_cache(maxsize=65536)(date.fromisoformat)
_position_key = functools.lru_cache(maxsize=None)(position_key)


@dataclass
class PortfolioRows:
    """One portfolio's document in the making: version and name rows in recording order."""

    versions: list[VersionRow] = field(default_factory=list)
    names: list[NameRow] = field(default_factory=list)
    # As `ScheduleTimeline.record`: the same event recorded twice changes nothing.
    seen: set[tuple[str, str, str]] = field(default_factory=set)

    def add_version(self, row: VersionRow) -> None:
        key = (row.source.event_id, row.kind, row.effective_from)
        if key not in self.seen:
            self.seen.add(key)
            self.versions.append(row)

    def add_name(self, row: NameRow) -> None:
        key = (row.source.event_id, "name", row.name)
        if key not in self.seen:
            self.seen.add(key)
            self.names.append(row)

    def retract(self, agreement_id: str, number: int, point: RecordPoint) -> None:
        """As `ScheduleTimeline.retract`, on the rows."""
        mark = _mark(point)

        def hit(s: Source, retracted: Mark | None) -> bool:
            return (
                retracted is None
                and s.agreement_id == agreement_id
                and s.amendment_number == number
                and position_key(s.position) < point.key
            )

        self.versions = [
            v._replace(retracted=mark) if hit(v.source, v.retracted) else v for v in self.versions
        ]
        self.names = [
            n._replace(retracted=mark) if hit(n.source, n.retracted) else n for n in self.names
        ]

    def timeline(self, portfolio_id: str, *, schedules: bool = True) -> ScheduleTimeline:
        timeline = ScheduleTimeline(portfolio_id)
        provenance: dict[Source, Provenance] = {}
        fees: dict[str, FeeSchedule] = {}

        def of(s: Source) -> Provenance:
            p = provenance.get(s)
            if p is None:
                p = provenance[s] = _provenance(s)
            return p

        for v in self.versions:
            schedule = None
            if v.tiers is not None and schedules:
                schedule = fees.get(v.tiers)
                if schedule is None:
                    schedule = fees[v.tiers] = FeeSchedule.from_json(json.loads(v.tiers))
            timeline.record(
                ScheduleVersion(
                    portfolio_id,
                    _KINDS[v.kind],
                    v.action,
                    schedule,
                    date.fromisoformat(v.effective_from),
                    of(v.source),
                    None if v.effective_to is None else date.fromisoformat(v.effective_to),
                    _point(v.retracted),
                )
            )
        for n in self.names:
            p = of(n.source)
            timeline.record_name(NameVersion(n.name, p.effective_date, p, _point(n.retracted)))
        return timeline

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PortfolioRows:
        rows = cls()
        if doc.get("format") != DOC_FORMAT:
            return cls._from_format_1(doc)
        sources = [Source(*a) for a in doc["amendments"]]
        tiers = [json_text(t) for t in doc["schedules"]]
        for kind, action, t, start, end, s, retracted in doc["versions"]:
            rows.add_version(
                VersionRow(
                    kind,
                    action,
                    None if t is None else tiers[t],
                    start,
                    end,
                    sources[s],
                    None if retracted is None else (retracted[0], retracted[1]),
                )
            )
        for name, s, retracted in doc["names"]:
            mark = None if retracted is None else (retracted[0], retracted[1])
            rows.add_name(NameRow(name, sources[s], mark))
        return rows

    @classmethod
    def _from_format_1(cls, doc: dict[str, Any]) -> PortfolioRows:
        def source(row: dict[str, Any]) -> Source:
            return Source(
                row["agreement_id"],
                row["amendment_number"],
                row["amendment_effective_date"],
                row["event_id"],
                row["recorded_at"],
                row["position"],
            )

        def mark(point: dict[str, str] | None) -> Mark | None:
            return None if point is None else (point["recorded_at"], point["position"])

        rows = cls()
        for v in doc["versions"]:
            tiers = None if v["tiers"] is None else json_text(v["tiers"])
            rows.add_version(
                VersionRow(
                    v["kind"],
                    v["action"],
                    tiers,
                    v["effective_from"],
                    v["effective_to"],
                    source(v),
                    mark(v["retracted"]),
                )
            )
        for n in doc["names"]:
            rows.add_name(NameRow(n["name"], source(n), mark(n["retracted"])))
        return rows


def _fact(row: VersionRow) -> Fact:
    to = row.effective_to
    return Fact(
        _KINDS[row.kind],
        _day(row.effective_from),
        None if to is None else _day(to),
        row.source.amendment_number,
        _position_key(row.source.position),
    )


def _set_by(row: VersionRow) -> str:
    """`services.audit.replay.provenance_json` of a stored version row, as JSON."""
    s = row.source
    return json_text(
        {
            "agreement_id": s.agreement_id,
            "amendment_number": s.amendment_number,
            "amendment_effective_date": s.effective_date,
            "action": row.action,
            "waiver": row.kind == "waiver",
            "event_id": s.event_id,
            "position": s.position,
            "recorded_at": s.recorded_at,
        }
    )


def document(pid: str, rows: PortfolioRows, owner: str | None, latest: int | None) -> str:
    """The stored JSON document (format 2) of a portfolio's rows."""
    sources: dict[Source, int] = {}
    schedules: dict[str, int] = {}
    versions = []
    for v in rows.versions:
        s = sources.setdefault(v.source, len(sources))
        t = None if v.tiers is None else schedules.setdefault(v.tiers, len(schedules))
        versions.append((v.kind, v.action, t, v.effective_from, v.effective_to, s, v.retracted))
    names = [(n.name, sources.setdefault(n.source, len(sources)), n.retracted) for n in rows.names]
    head = json_text(
        {
            "format": DOC_FORMAT,
            "portfolio_id": pid,
            "owner": owner,
            "latest": latest,
            "amendments": list(sources),
            "versions": versions,
            "names": names,
        }
    )
    # The schedules are already JSON text: spliced in rather than parsed and dumped again.
    return f'{head[:-1]},"schedules":[{",".join(schedules)}]}}'


def derived(pid: str, rows: PortfolioRows, owner: str | None) -> tuple[str, str, list[str]]:
    """A portfolio's stored document, and its answers as known now: an index of segment start
    dates (fixed-width YYYYMMDD, which the lookup script bisects) and one answer per segment."""
    visible = [i for i, v in enumerate(rows.versions) if v.retracted is None]
    names = [
        NameFact(
            n.name,
            _day(n.source.effective_date),
            n.source.amendment_number,
            _position_key(n.source.position),
        )
        for n in rows.names
        if n.retracted is None
    ]
    segments, latest = segments_now([_fact(rows.versions[i]) for i in visible], names)
    doc = document(pid, rows, owner, None if latest is None else visible[latest])
    index = "".join(f"{s.start.year:04d}{s.start.month:02d}{s.start.day:02d}" for s in segments)
    set_by: dict[int, str] = {}

    def provenance(i: int) -> str:
        text = set_by.get(i)
        if text is None:
            text = set_by[i] = _set_by(rows.versions[visible[i]])
        return text

    answers = []
    for s in segments:
        version = None if s.version is None else rows.versions[visible[s.version]]
        answers.append(
            f'{{"name":{json_text(s.name)},'
            f'"removed":{"true" if version is not None and version.kind == "remove" else "false"},'
            f'"tiers":{"null" if version is None or version.tiers is None else version.tiers},'
            f'"set_by":{"null" if s.version is None else provenance(s.version)},'
            f'"waived_schedule_set_by":{"null" if s.base is None else provenance(s.base)}}}'
        )
    return doc, index, answers
