"""The projector's read model in Redis: per-portfolio timelines in swappable generations.

A generation is five keys under `keys.read_model(gen)`: `:portfolios` (hash: portfolio id ->
JSON document with every schedule and name version and its provenance), `:names` (hash: folded
name or id -> portfolio id, renames included), `:amendments` (hash: agreement#number -> the
portfolio ids it touched, for retractions), `:agreements` (hash: agreement id -> terms) and
`:checkpoint` (the last log position applied). `keys.read_model_pointer` names the current
generation. Every write moves the documents and the checkpoint together (one Lua script), and
every read resolves the pointer and reads inside one Lua script, so no reader mixes generations.

Documents are folded with the same `ScheduleBook` the audit replay uses, and answers come from
the same `ScheduleTimeline`, so replay and read model agree by construction.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import multiprocessing
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from importlib import resources
from typing import Any, NamedTuple

import pydantic_core
import redis

from contracts.messages import (
    MESSAGE_TYPES,
    AgreementRegistered,
    AmendmentRecorded,
    AmendmentRetracted,
    DeadLetter,
    Message,
)
from contracts.wire import MAX_ENTRY_BYTES, WireError, decode, encode
from services.adapters.keys import Keys
from services.domain.agreement import names_of, versions_of
from services.domain.errors import DomainError
from services.domain.fees import FeeSchedule
from services.domain.timeline import (
    Fact,
    KnownAt,
    NameFact,
    NameVersion,
    Provenance,
    RecordPoint,
    ScheduleAnswer,
    ScheduleTimeline,
    ScheduleVersion,
    VersionKind,
    position_key,
    segments_now,
)
from services.mapping import amendment_from_wire, record_point


def _script(name: str) -> str:
    return resources.files("services.adapters").joinpath(name).read_text()


_APPLY_LUA = _script("readmodel_apply.lua")
_LOOKUP_LUA = _script("readmodel_lookup.lua")
_SWAP_LUA = _script("readmodel_swap.lua")
_ANSWER_LUA = _script("readmodel_answer.lua")


def name_key(name: str) -> str:
    """How names are matched: whitespace collapsed, case folded (as `ScheduleBook.resolve`)."""
    return " ".join(name.split()).casefold()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _dumps(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


def decode_entry(fields: dict[Any, Any]) -> Message:
    """An entry of the log as its message: the fast path for entries in our own wire format.

    The event store validated every event before appending it, so the `data` JSON is parsed
    straight into its model by pydantic-core; anything unusual takes `contracts.wire.decode`,
    which names what is wrong.
    """
    kind = fields.get(b"type")
    data = fields.get(b"data")
    model = MESSAGE_TYPES.get(kind.decode()) if kind is not None else None
    if model is not None and data is not None and len(data) <= MAX_ENTRY_BYTES:
        try:
            return model.model_validate_json(data)
        except ValueError:
            pass
    return decode(fields)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic collector while a rebuild allocates its (acyclic) rows: otherwise it
    re-walks the ever larger heap many times over. Reference counting still frees as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def new_generation() -> str:
    return f"g{time.time_ns()}"


# ---- documents -----------------------------------------------------------------------------
#
# A stored document (format 2) is compact: each amendment that touched the portfolio and each
# distinct fee schedule appear once, and versions and names refer to them by index:
#
#   {"format": 2, "portfolio_id", "owner", "latest": index of the current base version | null,
#    "amendments": [[agreement id, number, effective date, event id, recorded at, position]],
#    "versions": [[kind, action, schedule index | null, from, to | null, amendment index,
#                  retracted: [recorded at, position] | null]],
#    "names": [[name, amendment index, retracted]],
#    "schedules": [tiers as `FeeSchedule.as_json`]}
#
# Format 1 documents (one object per version, provenance restated) are still read, so an
# older generation keeps answering until the next rebuild replaces it.

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


def _source(p: Provenance) -> Source:
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
        None if v.schedule is None else _dumps(v.schedule.as_json()),
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


def answer_field(pid: str, numbered: tuple[int, str]) -> tuple[str, str]:
    """The `:now` hash field of a portfolio's n-th answer (1-based, as the lookup script)."""
    i, answer = numbered
    return f"{pid}{_SEP}{i + 1}", answer


def _amendment_field(agreement_id: str, number: int) -> str:
    return f"{agreement_id}#{number}"


# ---- projecting log entries ------------------------------------------------------------------
#
# A projection keeps each portfolio as the rows of its stored document (not as domain objects):
# a rebuild then never builds a FeeSchedule or a dataclass per event, and a document is
# serialized once, at the end. The live path turns validated messages into the same rows
# through the domain (`versions_of`, `names_of`).


_KINDS = {k.value: k for k in VersionKind}
_SEP = "\x1f"  # never in an id (ids have no whitespace), so `pid<SEP>n` cannot be another pid
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
        tiers = [_dumps(t) for t in doc["schedules"]]
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
            tiers = None if v["tiers"] is None else _dumps(v["tiers"])
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
    return _dumps(
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
    head = _dumps(
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
            f'{{"name":{_dumps(s.name)},'
            f'"removed":{"true" if version is not None and version.kind == "remove" else "false"},'
            f'"tiers":{"null" if version is None or version.tiers is None else version.tiers},'
            f'"set_by":{"null" if s.version is None else provenance(s.version)},'
            f'"waived_schedule_set_by":{"null" if s.base is None else provenance(s.base)}}}'
        )
    return doc, index, answers


@dataclass
class Projection:
    """Part (or all) of a generation in memory: document rows plus what the other keys hold."""

    portfolios: dict[str, PortfolioRows] = field(default_factory=dict)
    # Which agreement governs each portfolio's fee (the first to set its schedule).
    owner: dict[str, str] = field(default_factory=dict)
    amendments: dict[str, list[str]] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    touched_amendments: set[str] = field(default_factory=set)
    agreements: dict[str, str] = field(default_factory=dict)
    # A partitioned rebuild keeps only its own portfolios (see `Partition`), and indexes only
    # the amendments of the entries it owns (`owning`, set per entry by the caller).
    partition: Partition | None = None
    owning: bool = True
    owned_amendments: set[str] = field(default_factory=set)

    def load(self, doc: dict[str, Any]) -> None:
        pid = doc["portfolio_id"]
        self.portfolios[pid] = PortfolioRows.from_doc(doc)
        if doc.get("owner"):
            self.owner[pid] = doc["owner"]

    def rows(self, portfolio_id: str) -> PortfolioRows:
        rows = self.portfolios.get(portfolio_id)
        if rows is None:
            if self.partition is not None and not self.partition.owns(portfolio_id):
                return PortfolioRows()  # another partition's: folded there, dropped here
            rows = self.portfolios[portfolio_id] = PortfolioRows()
        return rows

    def timeline(self, portfolio_id: str) -> ScheduleTimeline:
        """The portfolio as a domain timeline (for tests and checks; folding uses the rows)."""
        return self.rows(portfolio_id).timeline(portfolio_id)

    def _index_amendment(self, agreement_id: str, number: int, pids: list[str]) -> None:
        key = _amendment_field(agreement_id, number)
        self.amendments[key] = pids
        self.touched_amendments.add(key)
        if self.owning:
            self.owned_amendments.add(key)
        self.touched.update(pids)

    def apply(self, position: str, message: Message) -> None:
        """Fold one validated log entry: the domain's steps (`versions_of`, `names_of`,
        `ScheduleTimeline.retract`), kept as document rows."""
        if isinstance(message, AmendmentRecorded):
            amendment = amendment_from_wire(message)
            provenance = Provenance(
                amendment.agreement_id,
                amendment.number,
                amendment.effective_date,
                message.event_id,
                record_point(message, position),
            )
            source = _source(provenance)
            for version in versions_of(amendment, provenance):
                self.rows(version.portfolio_id).add_version(version_row(version, source))
                if version.kind is not VersionKind.WAIVER:
                    self.owner.setdefault(version.portfolio_id, amendment.agreement_id)
            for pid, name in names_of(amendment):
                self.rows(pid).add_name(NameRow(name, source))
            pids = sorted({c.portfolio_id for c in message.changes})
            self._index_amendment(message.agreement_id, message.amendment_number, pids)
        elif isinstance(message, AmendmentRetracted):
            point = record_point(message, position)
            key = _amendment_field(message.agreement_id, message.amendment_number)
            for pid in self.amendments.get(key, ()):
                self.rows(pid).retract(message.agreement_id, message.amendment_number, point)
                self.touched.add(pid)
        elif isinstance(message, AgreementRegistered):
            self.agreements[message.agreement_id] = message.model_dump_json(
                include={"agreement_id", "agreement_date", "trust", "adviser", "day_count"}
                | {"rounding"}
            )

    def apply_trusted(self, position: str, a: dict[str, Any], recorded_at: str) -> None:
        """Fold an amendment the service wrote itself (see `TrustedAmendments`): the same rows
        `apply` makes, built straight from the validated JSON. For a whole-log fold only: it
        does not track what it touched (the rebuild writes everything)."""
        agreement_id, effective = a["agreement_id"], a["effective_date"]
        source = Source(
            agreement_id, a["amendment_number"], effective, a["event_id"], recorded_at, position
        )
        rows = self.rows
        changes = a["changes"]
        for change in changes:
            action = change["action"]
            if action == "rename":
                continue
            pid = change["portfolio_id"]
            if action == "waiver":
                period = change["period"]
                row = VersionRow(
                    "waiver", action, change["tiers"], period["from"], period["to"], source
                )
            else:
                kind = "remove" if action == "remove" else "set"
                row = VersionRow(kind, action, change.get("tiers"), effective, None, source)
                if pid not in self.owner:
                    self.owner[pid] = agreement_id
            rows(pid).add_version(row)
        for change in changes:
            name = (
                change["new_name"] if change["action"] == "rename" else change.get("portfolio_name")
            )
            if name:
                rows(change["portfolio_id"]).add_name(NameRow(name, source))
        # A whole-log fold: the caller marks every portfolio and amendment touched at the end.
        key = f"{agreement_id}#{source.amendment_number}"
        if self.owning:
            self.owned_amendments.add(key)
        if len(changes) == 1:
            self.amendments[key] = [changes[0]["portfolio_id"]]
        else:
            self.amendments[key] = sorted({c["portfolio_id"] for c in changes})

    def portfolio_entries(self) -> Iterator[tuple[str, str, str, list[str]]]:
        """(portfolio id, document, answer index, answers) of every touched portfolio."""
        for pid in sorted(self.touched):
            yield (pid, *derived(pid, self.portfolios[pid], self.owner.get(pid)))

    def name_pairs(self) -> Iterator[tuple[str, str]]:
        for pid in sorted(self.touched):
            yield name_key(pid), pid
            for name in dict.fromkeys(n.name for n in self.portfolios[pid].names):
                yield name_key(name), pid

    def amendment_pairs(self) -> Iterator[tuple[str, str]]:
        texts: dict[tuple[str, ...], str] = {}  # the same few portfolio lists recur
        for key in sorted(self.touched_amendments):
            pids = tuple(self.amendments[key])
            text = texts.get(pids)
            if text is None:
                text = texts[pids] = _dumps(pids)
            yield key, text


# ---- trusted entries: the rebuild's fast path -------------------------------------------------
#
# Only the recorder may append to the log (see `services.ops.acl`), and it validated every event
# before its Lua append. So a rebuild trusts entries that say they are amendments of schema
# version 1: it parses their JSON and checks their structure where it reads it (each object has
# exactly the recorder's keys, values of the right type and length), instead of building and
# validating each message model. Values the fold stores are checked once per distinct value
# (ids without whitespace, calendar dates, fee schedules accepted by the domain in canonical
# form). Any entry that fails a check, or raises while being checked, takes the slow path
# (`decode_entry`, full validation, dead letter if unreadable), so a malformed entry is never
# folded silently.

_ID = re.compile(r"[^\s]+")
# How the service writes a moment (UTC, "Z", microseconds unless zero); the date is checked apart.
_UTC_MOMENT = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{6})?Z"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"(?:0|[1-9]\d*)(?:\.\d+)?")
# The recorder's shape: how many keys each object has (every one of them is read, so a count
# that matches means the keys are exactly these).
_AMENDMENT_KEYS = 10  # type, schema_version, event_id, occurred_at, agreement_id,
# amendment_number, effective_date, executed_date, source, changes
_CHANGE_KEYS = {"add": 4, "revise": 4, "replace": 4, "remove": 2, "rename": 4, "waiver": 5}


def _one_change_pattern() -> re.Pattern[str]:
    """The recorder's exact text of an amendment with one change that sets a schedule (by far
    the commonest entry), capturing what the fold reads. Strings without escapes only: their
    text is then their value, so a match reads exactly what `json.loads` would."""
    char = r'[^"\\\x00-\x1f]'  # a character of a JSON string that needs no escape
    ident = r'([^"\\\x00-\x20\s]{1,200})'  # no whitespace, as `_ID`
    day = r"([0-9]{4}-[0-9]{2}-[0-9]{2})"

    def maybe(pattern: str) -> str:
        return '(?:null|"' + pattern + '")'

    return re.compile(
        '{"type":"AmendmentRecorded","schema_version":1,'
        + f'"event_id":"{ident}","occurred_at":"({_UTC_MOMENT.pattern})",'
        + f'"agreement_id":"{ident}","amendment_number":(0|[1-9][0-9]{{0,17}}),'
        + f'"effective_date":"{day}","executed_date":{maybe(day)},'
        + '"source":{"title":'
        + maybe(char + "{0,1000}")
        + ',"sha256":'
        + maybe("[0-9a-f]{64}")
        + ',"url":'
        + maybe(char + "{0,2000}")
        + "},"
        + r'"changes":\[{"action":"(add|revise|replace)","portfolio_id":"'
        + ident
        + '","portfolio_name":"('
        + char
        + '{1,500})",'
        + r'"tiers":(\[[^\]\\]*\])}\]}'
    )


def _text_of(value: Any, low: int, high: int) -> bool:
    return type(value) is str and low <= len(value) <= high


_ONE_CHANGE = _one_change_pattern()


class TrustedAmendments:
    """Checks pages of log entries for amendments exactly as this service writes them.

    `page(rows)` returns, per entry, `(amendment as JSON-like dicts, recorded at)` when the
    entry can be folded straight from its JSON (`Projection.apply_trusted`), else None (the
    entry then goes through full validation). Fee schedules repeat across portfolios, so each
    distinct one is checked by the domain (`FeeSchedule.from_json`) once.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._ids: set[str] = set()
        self._days: set[str] = set()
        self._schedules: dict[tuple[Any, ...], str] = {}
        self._tier_texts: dict[str, str | None] = {}
        self._limit = limit

    def page(self, rows: Sequence[tuple[Any, Any]]) -> list[tuple[dict[str, Any], str] | None]:
        out: list[tuple[dict[str, Any], str] | None] = [None] * len(rows)
        where: list[int] = []
        data: list[bytes] = []
        one_change = self._one_change
        for i, (_, fields) in enumerate(rows):
            if (
                fields.get(b"type") == b"AmendmentRecorded"
                and len(fields) == 4
                and fields.get(b"schema_version") == b"1"
                and b"event_id" in fields
                and (raw := fields.get(b"data")) is not None
                and len(raw) <= MAX_ENTRY_BYTES
            ):
                try:
                    out[i] = one_change(raw.decode(), fields[b"event_id"])
                except Exception:  # anything unexpected: the JSON path (then full validation)
                    out[i] = None
                if out[i] is None:
                    where.append(i)
                    data.append(raw)
        if not data:
            return out
        try:
            parsed: list[Any] = json.loads(b"[" + b",".join(data) + b"]")
            if len(parsed) != len(data):
                raise ValueError("an entry is not one JSON value")
        except ValueError:
            parsed = []
            for raw in data:
                try:
                    parsed.append(json.loads(raw))
                except ValueError:
                    parsed.append(None)
        for i, a in zip(where, parsed, strict=True):
            try:
                accepted = type(a) is dict and self._accept(a, rows[i][1][b"event_id"])
            except Exception:  # anything unexpected: full validation decides
                accepted = False
            if accepted:
                # The moment as `datetime.isoformat` writes it (what the slow path stores).
                out[i] = (a, a["occurred_at"][:-1] + "+00:00")
        return out

    def _one_change(self, raw: str, event_id: bytes) -> tuple[dict[str, Any], str] | None:
        """The commonest entry read straight off its text (see `_one_change_pattern`), with the
        same checks as `_accept`; None sends it to the JSON path."""
        m = _ONE_CHANGE.fullmatch(raw)
        if m is None:
            return None
        (event, occurred, moment_day, agreement, number, effective, executed) = m.group(
            1, 2, 3, 4, 5, 6, 7
        )
        action, pid, name, tiers = m.group(8, 9, 10, 11)
        days, ids = self._days, self._ids
        if (
            event_id != event.encode()
            or (agreement not in ids and not self._id(agreement))
            or (pid not in ids and not self._id(pid))
            or (effective not in days and not self._day(effective))
            or (moment_day not in days and not self._day(moment_day))
            or (executed is not None and not self._day(executed))
        ):
            return None
        canonical = self._tier_texts.get(tiers)
        if canonical is None:
            if tiers in self._tier_texts:
                return None
            change = {"action": action, "portfolio_id": pid, "portfolio_name": name}
            change["tiers"] = json.loads(tiers)
            canonical = change["tiers"] if self._change(change) else None
            if len(self._tier_texts) >= self._limit:
                self._tier_texts.clear()
            self._tier_texts[tiers] = canonical
            if canonical is None:
                return None
        amendment = {
            "event_id": event,
            "agreement_id": agreement,
            "amendment_number": int(number),
            "effective_date": effective,
            "changes": [
                {"action": action, "portfolio_id": pid, "portfolio_name": name, "tiers": canonical}
            ],
        }
        return amendment, occurred[:-1] + "+00:00"

    def _accept(self, a: dict[str, Any], event_id: bytes) -> bool:
        """The recorder's shape, checked where the fold reads it; replaces each schedule by its
        canonical JSON. May raise (a missing key, a wrong type): the caller then says no."""
        ids, days = self._ids, self._days
        number, changes, source = a["amendment_number"], a["changes"], a["source"]
        if (
            len(a) != _AMENDMENT_KEYS
            or a["type"] != "AmendmentRecorded"
            or type(a["schema_version"]) is not int
            or a["schema_version"] != 1
            or type(number) is not int
            or number < 0
            or type(changes) is not list
            or not 1 <= len(changes) <= 500
            or type(source) is not dict
            or len(source) != 3
        ):
            return False
        occurred, event, agreement = a["occurred_at"], a["event_id"], a["agreement_id"]
        effective, executed = a["effective_date"], a["executed_date"]
        title, sha, url = source["title"], source["sha256"], source["url"]
        moment = _UTC_MOMENT.fullmatch(occurred) if _text_of(occurred, 0, 64) else None
        if (
            moment is None
            or not _text_of(event, 1, 200)
            or event_id != event.encode()
            or _ID.fullmatch(event) is None
            or (agreement not in ids and not self._id(agreement))
            or (effective not in days and not self._day(effective))
            or (moment[1] not in days and not self._day(moment[1]))
            or (executed is not None and not self._day(executed))
            or (title is not None and not _text_of(title, 0, 1000))
            or (url is not None and not _text_of(url, 0, 2000))
            or (sha is not None and not (type(sha) is str and _SHA256.fullmatch(sha)))
        ):
            return False
        return all(self._change(change) for change in changes)

    def _change(self, change: dict[str, Any]) -> bool:
        action = change["action"]
        pid = change["portfolio_id"]
        if (
            type(change) is not dict
            or type(action) is not str
            or len(change) != _CHANGE_KEYS.get(action)
            or (pid not in self._ids and not self._id(pid))
        ):
            return False
        if action == "remove":
            return True
        if action == "rename":
            former = change["former_name"]
            return _text_of(change["new_name"], 1, 500) and (former is None or type(former) is str)
        name = change["portfolio_name"]
        if not (_text_of(name, 1, 500) or (name is None and action == "waiver")):
            return False
        tiers = change["tiers"]
        if type(tiers) is not list or not 1 <= len(tiers) <= 50:
            return False
        key = []
        for t in tiers:
            if type(t) is not dict or len(t) != 3:
                return False
            key.append((t["from"], t["to"], t["rate_pct"]))
        schedule = tuple(key)
        canonical = self._schedules.get(schedule) or self._schedule(schedule, tiers)
        if canonical is None:
            return False
        change["tiers"] = canonical
        if action == "waiver":
            period = change["period"]
            return (
                type(period) is dict
                and len(period) == 2
                and self._day(period["from"])
                and self._day(period["to"])
            )
        return True

    def _id(self, value: str) -> bool:
        if value in self._ids:
            return True
        if not _text_of(value, 1, 200) or _ID.fullmatch(value) is None:
            return False
        self._remember(self._ids, value)
        return True

    def _day(self, value: str) -> bool:
        if value in self._days:
            return True
        if not _text_of(value, 10, 10):
            return False
        try:
            if date.fromisoformat(value).isoformat() != value:
                return False
        except ValueError:
            return False
        self._remember(self._days, value)
        return True

    def _remember(self, known: set[str], value: str) -> None:
        if len(known) >= self._limit:
            known.clear()
        known.add(value)

    def _schedule(
        self, key: tuple[tuple[Any, ...], ...], tiers: list[dict[str, str | None]]
    ) -> str | None:
        """The schedule as `FeeSchedule.as_json` text, if the domain accepts it exactly so."""
        for start, end, rate in key:
            for value in (start, rate) if end is None else (start, end, rate):
                if not _text_of(value, 1, 64) or _DECIMAL.fullmatch(value) is None:
                    return None
        try:
            stored = FeeSchedule.from_json(tiers).as_json()
        except DomainError:
            return None
        if stored != tiers:
            return None
        if len(self._schedules) >= self._limit:
            self._schedules.clear()
        text = self._schedules[key] = _dumps(stored)
        return text


def affected_portfolios(message: Message) -> list[str]:
    if isinstance(message, AmendmentRecorded):
        return sorted({c.portfolio_id for c in message.changes})
    return []


@dataclass(frozen=True, slots=True)
class Lookup:
    """One portfolio as the read model holds it, read from a single generation."""

    generation: str
    portfolio_id: str
    checkpoint: str
    document: dict[str, Any]

    @property
    def timeline(self) -> ScheduleTimeline:
        return timeline_from_doc(self.document)

    def schedule_on(
        self, on: date, known_at: KnownAt = None, skeleton: ScheduleTimeline | None = None
    ) -> ScheduleAnswer:
        """`ScheduleTimeline.schedule_on` over the stored versions, building only the
        FeeSchedules of the versions in the answer (the fast path of `--source read-model`)."""
        rows = PortfolioRows.from_doc(self.document)
        if skeleton is None:
            skeleton = rows.timeline(self.portfolio_id, schedules=False)
        answer = skeleton.schedule_on(on, known_at)
        tiers = {(v.source.position, v.kind, v.effective_from): v.tiers for v in rows.versions}

        def filled(version: ScheduleVersion | None) -> ScheduleVersion | None:
            if version is None:
                return None
            key = (
                version.provenance.recorded.position,
                version.kind.value,
                version.effective_from.isoformat(),
            )
            raw = tiers.get(key)
            schedule = None if raw is None else FeeSchedule.from_json(json.loads(raw))
            return replace(version, schedule=schedule)

        version, base = filled(answer.version), filled(answer.base)
        schedule = None
        if version is not None and version.kind is not VersionKind.REMOVE:
            schedule = version.schedule
        return replace(answer, schedule=schedule, version=version, base=base)


# A portfolio id as the recorder writes it in an entry's JSON (no escapes: see `Partition`).
_PORTFOLIO_ID = re.compile(rb'"portfolio_id"\s*:\s*"([^"]*)"')


@dataclass
class Partition:
    """One of `count` rebuild workers: the portfolios whose id hashes (CRC-32) to `index`.

    `select` picks the log entries the worker must fold, from the raw bytes before any
    parsing: an entry naming only other partitions' portfolios is skipped. Each entry has
    exactly one owner (the partition of its least portfolio id, else partition 0), which
    indexes its amendment and dead-letters it if it is unreadable. An entry whose portfolio ids
    cannot be read off its bytes for certain (an escape, a non-string id, none at all: a
    registration or a retraction) is folded by every worker, each keeping its own portfolios.
    """

    index: int
    count: int
    _owns: dict[Any, bool] = field(default_factory=dict)

    def owns(self, portfolio_id: str | bytes) -> bool:
        owns = self._owns.get(portfolio_id)
        if owns is None:
            raw = portfolio_id.encode() if isinstance(portfolio_id, str) else portfolio_id
            owns = self._owns[portfolio_id] = zlib.crc32(raw) % self.count == self.index
        return owns

    def select(self, rows: Sequence[tuple[Any, Any]]) -> list[tuple[tuple[Any, Any], bool]]:
        """(entry, owned) for each entry this partition folds, in log order."""
        out = []
        first = self.index == 0
        for row in rows:
            data = row[1].get(b"data")
            pids = None if data is None or b"\\" in data else _PORTFOLIO_ID.findall(data)
            if not pids or len(pids) != data.count(b'"portfolio_id"'):
                out.append((row, first))
            elif self.owns(min(pids)):
                out.append((row, True))
            elif any(self.owns(p) for p in pids):
                out.append((row, False))
        return out


class ReadModel:
    """Reads and writes the read model of one key prefix (sync client; thread-safe scripts)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self.rm_prefix = keys.read_model("")
        self._apply = client.register_script(_APPLY_LUA)
        self._lookup = client.register_script(_LOOKUP_LUA)
        self._swap = client.register_script(_SWAP_LUA)
        self._answer = client.register_script(_ANSWER_LUA)

    def gen_key(self, generation: str, part: str) -> str:
        return f"{self.keys.read_model(generation)}:{part}"

    # ---- reading ------------------------------------------------------------------------

    def current(self) -> str | None:
        raw: Any = self.client.get(self.keys.read_model_pointer)
        return None if raw is None else _text(raw)

    def checkpoint(self, generation: str) -> str:
        raw: Any = self.client.get(self.gen_key(generation, "checkpoint"))
        return "" if raw is None else _text(raw)

    def lookup(self, name_or_id: str) -> Lookup | None:
        """The portfolio (by id or any name it has had) from the current generation."""
        reply: Any = self._lookup(
            keys=[self.keys.read_model_pointer], args=[self.rm_prefix, name_or_id]
        )
        gen, pid, doc, checkpoint = (_text(v) for v in reply)
        if not doc:
            reply = self._lookup(
                keys=[self.keys.read_model_pointer], args=[self.rm_prefix, name_key(name_or_id)]
            )
            gen, pid, doc, checkpoint = (_text(v) for v in reply)
        if not doc:
            return None
        return Lookup(gen, pid, checkpoint, pydantic_core.from_json(doc))

    def answer_now(self, name_or_id: str, on: date) -> tuple[str, dict[str, Any]] | None:
        """(portfolio id, stored answer) for `on` as known now, in one script call that
        resolves the generation, the name and the date's segment; None if unknown."""
        day = f"{on.year:04d}{on.month:02d}{on.day:02d}"
        reply: Any = self._answer(
            keys=[self.keys.read_model_pointer],
            args=[self.rm_prefix, name_or_id, name_key(name_or_id), day],
        )
        pid, answer = reply
        if not answer:
            return None
        return _text(pid), json.loads(answer)

    # ---- writing --------------------------------------------------------------------------

    def ensure_current(self) -> str:
        """The current generation, creating an empty one on first use."""
        self.client.set(self.keys.read_model_pointer, new_generation(), nx=True)
        gen = self.current()
        assert gen is not None
        return gen

    def _load(self, generation: str, projection: Projection, messages: list[Message]) -> None:
        """Fetch the documents and amendment index entries the messages will change."""
        pids: set[str] = set()
        retracted: list[str] = []
        for m in messages:
            pids.update(affected_portfolios(m))
            if isinstance(m, AmendmentRetracted):
                retracted.append(_amendment_field(m.agreement_id, m.amendment_number))
        if retracted:
            rows: Any = self.client.hmget(self.gen_key(generation, "amendments"), retracted)
            for key, raw in zip(retracted, rows, strict=True):
                if raw is not None:
                    projection.amendments[key] = json.loads(raw)
                    pids.update(projection.amendments[key])
        if pids:
            ordered = sorted(pids)
            docs: Any = self.client.hmget(self.gen_key(generation, "portfolios"), ordered)
            for raw in docs:
                if raw is not None:
                    projection.load(pydantic_core.from_json(raw))

    def apply_entries(
        self,
        generation: str,
        expected_checkpoint: str,
        entries: list[tuple[str, Message]],
        *,
        require_current: bool,
    ) -> bool:
        """Apply log entries after `expected_checkpoint` in one atomic step; False on a race."""
        if not entries:
            return True
        projection = Projection()
        self._load(generation, projection, [m for _, m in entries])
        for position, message in entries:
            projection.apply(position, message)
        return self._write(
            generation, expected_checkpoint, entries[-1][0], projection, require_current
        )

    def _write(
        self,
        generation: str,
        expected: str,
        checkpoint: str,
        projection: Projection,
        require_current: bool,
    ) -> bool:
        entries = list(projection.portfolio_entries())
        groups: list[list[tuple[str, str]]] = [
            [(pid, doc) for pid, doc, _, _ in entries],
            list(projection.name_pairs()),
            list(projection.amendment_pairs()),
            list(projection.agreements.items()),
            [(pid, index) for pid, _, index, _ in entries],
            [answer_field(pid, i) for pid, _, _, answers in entries for i in enumerate(answers)],
        ]
        flat = [item for group in groups for pair in group for item in pair]
        reply: Any = self._apply(
            keys=[self.keys.read_model_pointer],
            args=[
                self.rm_prefix,
                generation,
                expected,
                checkpoint,
                "1" if require_current else "0",
                *(len(g) for g in groups),
                *flat,
            ],
        )
        return int(reply) == 1

    def catch_up(
        self,
        until: str = "+",
        *,
        generation: str | None = None,
        page: int = 500,
        on_poison: Callable[[str, dict[bytes, bytes], str], None] | None = None,
    ) -> int:
        """Apply every log entry after the checkpoint up to `until`, in log order.

        Entries at or before the checkpoint are no-ops, so a redelivery changes nothing. With
        `generation` None the current generation is followed (and re-resolved after a swap).
        Returns how many entries were applied.
        """
        applied = 0
        while True:
            gen = generation or self.ensure_current()
            checkpoint = self.checkpoint(gen)
            if until != "+" and checkpoint and position_key(checkpoint) >= position_key(until):
                return applied
            start = "(" + checkpoint if checkpoint else "-"
            rows: Any = self.client.xrange(self.keys.agreements, min=start, max=until, count=page)
            if not rows:
                return applied
            entries = list(self._decode(rows, on_poison))
            last = _text(rows[-1][0])
            if entries and entries[-1][0] != last:
                # The page ended on an undecodable entry: still move the checkpoint past it.
                entries.append((last, _NOTHING))
            if not entries:
                entries = [(last, _NOTHING)]
            if self.apply_entries(gen, checkpoint, entries, require_current=generation is None):
                applied += len(rows)

    def _decode(
        self,
        rows: Iterable[tuple[Any, Any]],
        on_poison: Callable[[str, dict[bytes, bytes], str], None] | None,
    ) -> Iterator[tuple[str, Message]]:
        for raw_id, fields in rows:
            entry_id = _text(raw_id)
            try:
                yield entry_id, decode_entry(fields)
            except WireError as exc:
                if on_poison is not None:
                    on_poison(entry_id, fields, str(exc))

    def dead_letter(self, entry_id: str, fields: dict[bytes, bytes], reason: str) -> None:
        letter = DeadLetter(
            source_stream=self.keys.agreements,
            entry_id=entry_id,
            fields={_text(k): _text(v)[:4000] for k, v in fields.items()},
            reason=reason,
            consumer="projector",
        )
        self.client.xadd(self.keys.dead_letters, encode(letter))  # type: ignore[arg-type]

    # ---- rebuild --------------------------------------------------------------------------

    def _pages(self, page: int, until: str = "+") -> Iterator[list[tuple[Any, Any]]]:
        """The whole log in pages; the next page is read while the caller folds this one
        (Redis answers on its own core, and a blocking socket read releases the GIL)."""
        ahead: list[Any] = []

        def fetch(start: str) -> None:
            ahead.append(self.client.xrange(self.keys.agreements, min=start, max=until, count=page))

        fetch("-")
        while True:
            rows = ahead.pop()
            if len(rows) < page:
                yield rows
                return
            reader = threading.Thread(target=fetch, args=("(" + _text(rows[-1][0]),))
            reader.start()
            try:
                yield rows
            finally:
                reader.join()

    def rebuild(
        self,
        *,
        page: int = 2000,
        progress: Callable[[int], None] | None = None,
        trust_log: bool = True,
        workers: int = 1,
    ) -> RebuildResult:
        """Replay the whole log into a fresh generation, catch up, swap the pointer, drop the old.

        Amendments in exactly the shape the recorder writes are folded from their JSON
        (`TrustedAmendments`); every other entry is validated in full (`decode_entry`) and
        dead-lettered if it cannot be read (every entry, with `trust_log` False). Each document
        is written once, at the end. With `workers` > 1 the log up to its current end is
        folded by that many forked processes, one `Partition` of the portfolios each.

        The old generation is deleted right after the swap: every read resolves the pointer
        and reads the documents inside one Lua script, so no reader can still be holding the
        old generation's name between two of its reads.
        """
        with _no_cyclic_gc():
            if workers > 1:
                gen, count = self._fold_in_parallel(page, progress, trust_log, workers)
            else:
                gen, count = self._fold_into_new_generation(page, progress, trust_log)
        while True:
            count += self.catch_up(generation=gen)
            reply: Any = self._swap(
                keys=[self.keys.read_model_pointer, self.keys.agreements],
                args=[self.rm_prefix, gen],
            )
            status, other = (_text(v) for v in reply)
            if status == "ok":
                break
        if other:
            self.drop(other)
        return RebuildResult(gen, other or None, count)

    def _fold_into_new_generation(
        self, page: int, progress: Callable[[int], None] | None, trust_log: bool
    ) -> tuple[str, int]:
        gen = new_generation()
        projection, count, last = self._fold(page, progress, trust_log)
        self._bulk_write(gen, projection, last)
        return gen, count

    def _fold(
        self,
        page: int,
        progress: Callable[[int], None] | None,
        trust_log: bool,
        partition: Partition | None = None,
        until: str = "+",
    ) -> tuple[Projection, int, str]:
        """The whole log (up to `until`) folded in memory: (projection, entries read, last)."""
        projection = Projection(partition=partition)
        trusted = TrustedAmendments()
        count = 0
        last = ""
        for rows in self._pages(page, until):
            if rows:
                last = _text(rows[-1][0])
                count += len(rows)
            selected = (
                [(row, True) for row in rows] if partition is None else partition.select(rows)
            )
            entries = [row for row, _ in selected]
            checks = trusted.page(entries) if trust_log else [None] * len(entries)
            for ((raw_id, fields), owned), checked in zip(selected, checks, strict=True):
                projection.owning = owned
                if checked is not None:
                    projection.apply_trusted(_text(raw_id), *checked)
                    continue
                poison = self.dead_letter if owned else None
                for position, message in self._decode([(raw_id, fields)], poison):
                    projection.apply(position, message)
            if rows and progress is not None:
                progress(len(rows))
        projection.touched = set(projection.portfolios)
        if partition is None:
            projection.touched_amendments = set(projection.amendments)
        else:
            projection.touched_amendments = projection.owned_amendments
        return projection, count, last

    def _fold_in_parallel(
        self, page: int, progress: Callable[[int], None] | None, trust_log: bool, workers: int
    ) -> tuple[str, int]:
        newest: Any = self.client.xrevrange(self.keys.agreements, count=1)
        if not newest:
            return self._fold_into_new_generation(page, progress, trust_log)
        until = _text(newest[0][0])
        gen = new_generation()
        # Forked, not spawned: a worker starts in milliseconds with everything imported.
        context = multiprocessing.get_context("fork")
        read = context.Value("q", 0)  # entries partition 0 has read, for the progress bar
        pipes, processes = [], []
        for index in range(workers):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=self._fold_partition,
                args=(gen, page, trust_log, Partition(index, workers), until, send, read),
                daemon=True,
            )
            process.start()
            send.close()
            pipes.append(receive)
            processes.append(process)
        results: list[Any] = []
        reported = 0
        try:
            for receive in pipes:
                while not receive.poll(0.05):
                    if progress is not None and read.value > reported:
                        progress(read.value - reported)
                        reported = read.value
                results.append(receive.recv())
        except EOFError:
            results.append(("failed", "a rebuild worker exited without a result"))
        finally:
            for process in processes:
                process.join()
        failures = [r[1] for r in results if r[0] != "ok"]
        ends = {r[2] for r in results if r[0] == "ok"}
        if failures or ends != {until}:
            self.drop(gen)
            raise RuntimeError(f"rebuild workers did not all reach {until}: {failures or ends}")
        if progress is not None and results[0][1] > reported:
            progress(results[0][1] - reported)
        # Names: as the single-process rebuild writes them, later portfolio ids winning a name.
        names = sorted((pair for r in results for pair in r[3]), key=lambda pair: pair[1])
        pipe = self.client.pipeline(transaction=False)
        named = dict(names)
        items = list(named.items())
        for i in range(0, len(items), 1000):
            pipe.hset(self.gen_key(gen, "names"), mapping=dict(items[i : i + 1000]))
        pipe.set(self.gen_key(gen, "checkpoint"), until)
        pipe.execute()
        return gen, int(results[0][1])

    def _fold_partition(
        self,
        gen: str,
        page: int,
        trust_log: bool,
        partition: Partition,
        until: str,
        send: Any,
        read: Any,
    ) -> None:
        """A rebuild worker (forked): fold and write one partition, send back what it reached."""
        try:

            def counted(n: int) -> None:
                read.value += n

            progress = counted if partition.index == 0 else None
            projection, count, last = self._fold(page, progress, trust_log, partition, until)
            if partition.index != 0:
                projection.agreements = {}
            self._bulk_write(gen, projection, None, names=False)
            send.send(("ok", count, last, list(projection.name_pairs())))
        except BaseException as exc:  # reported to the parent, which fails the rebuild
            send.send(("failed", repr(exc)))
        finally:
            send.close()

    def _bulk_write(
        self, gen: str, projection: Projection, checkpoint: str | None, *, names: bool = True
    ) -> None:
        # The generation is invisible until the swap, so plain pipelined writes are safe here.
        docs: list[tuple[str, str]] = []
        now: list[tuple[str, str]] = []
        for pid, doc, index, answers in projection.portfolio_entries():
            docs.append((pid, doc))
            now.append((pid, index))
            now.extend(answer_field(pid, numbered) for numbered in enumerate(answers))
        pipe = self.client.pipeline(transaction=False)
        chunk = 1000
        for part, pairs in (
            ("portfolios", docs),
            ("now", now),
            ("names", list(projection.name_pairs()) if names else []),
            ("amendments", list(projection.amendment_pairs())),
            ("agreements", list(projection.agreements.items())),
        ):
            for i in range(0, len(pairs), chunk):
                pipe.hset(self.gen_key(gen, part), mapping=dict(pairs[i : i + chunk]))
                if len(pipe) >= 10:
                    pipe.execute()
        if checkpoint is not None:
            pipe.set(self.gen_key(gen, "checkpoint"), checkpoint)
        pipe.execute()

    def drop(self, generation: str) -> None:
        parts = ("portfolios", "names", "amendments", "agreements", "now", "checkpoint")
        self.client.unlink(*(self.gen_key(generation, p) for p in parts))


@dataclass(frozen=True, slots=True)
class RebuildResult:
    generation: str
    previous: str | None
    events: int


class _Nothing(Message):
    """Stands in for an undecodable entry so the checkpoint can move past it."""

    type: str = "Nothing"


_NOTHING = _Nothing()
