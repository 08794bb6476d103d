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
import gc
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

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


# ---- documents: ScheduleTimeline <-> JSON ------------------------------------------------------


def _point_doc(point: RecordPoint | None) -> dict[str, str] | None:
    if point is None:
        return None
    return {"recorded_at": point.recorded_at.isoformat(), "position": point.position}


def _point(doc: dict[str, str] | None) -> RecordPoint | None:
    if doc is None:
        return None
    return RecordPoint(datetime.fromisoformat(doc["recorded_at"]), doc["position"])


def _provenance_doc(p: Provenance) -> dict[str, Any]:
    return {
        "agreement_id": p.agreement_id,
        "amendment_number": p.amendment_number,
        "amendment_effective_date": p.effective_date.isoformat(),
        "event_id": p.event_id,
        "recorded_at": p.recorded.recorded_at.isoformat(),
        "position": p.recorded.position,
    }


def _provenance(doc: dict[str, Any]) -> Provenance:
    return Provenance(
        doc["agreement_id"],
        doc["amendment_number"],
        date.fromisoformat(doc["amendment_effective_date"]),
        doc["event_id"],
        RecordPoint(datetime.fromisoformat(doc["recorded_at"]), doc["position"]),
    )


def version_doc(v: ScheduleVersion) -> dict[str, Any]:
    return {
        "kind": v.kind.value,
        "action": v.action,
        "tiers": None if v.schedule is None else v.schedule.as_json(),
        "effective_from": v.effective_from.isoformat(),
        "effective_to": None if v.effective_to is None else v.effective_to.isoformat(),
        **_provenance_doc(v.provenance),
        "retracted": _point_doc(v.retracted),
    }


def name_doc(n: NameVersion) -> dict[str, Any]:
    return {
        "name": n.name,
        "effective_from": n.effective_from.isoformat(),
        **_provenance_doc(n.provenance),
        "retracted": _point_doc(n.retracted),
    }


def timeline_from_doc(doc: dict[str, Any], *, schedules: bool = True) -> ScheduleTimeline:
    """The stored timeline; without `schedules` the versions carry no FeeSchedule (cheaper:
    which version answers never depends on its tiers, so `Lookup.schedule_on` fills in just
    the one it needs)."""
    timeline = ScheduleTimeline(doc["portfolio_id"])
    for v in doc["versions"]:
        timeline.record(
            ScheduleVersion(
                doc["portfolio_id"],
                VersionKind(v["kind"]),
                v["action"],
                None if v["tiers"] is None or not schedules else FeeSchedule.from_json(v["tiers"]),
                date.fromisoformat(v["effective_from"]),
                _provenance(v),
                None if v["effective_to"] is None else date.fromisoformat(v["effective_to"]),
                _point(v["retracted"]),
            )
        )
    for n in doc["names"]:
        timeline.record_name(
            NameVersion(
                n["name"],
                date.fromisoformat(n["effective_from"]),
                _provenance(n),
                _point(n["retracted"]),
            )
        )
    return timeline


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
# through the domain (`versions_of`, `names_of`, `version_doc`).


_KINDS = {k.value: k for k in VersionKind}
_SEP = "\x1f"  # never in an id (ids have no whitespace), so `pid<SEP>n` cannot be another pid


@dataclass
class PortfolioRows:
    """One portfolio's document in the making: version and name rows in recording order."""

    versions: list[dict[str, Any]] = field(default_factory=list)
    names: list[dict[str, Any]] = field(default_factory=list)
    # As `ScheduleTimeline.record`: the same event recorded twice changes nothing.
    seen: set[str] = field(default_factory=set)

    def add_version(self, row: dict[str, Any]) -> bool:
        key = f"{row['event_id']}:{row['kind']}:{row['effective_from']}"
        if key in self.seen:
            return False
        self.seen.add(key)
        self.versions.append(row)
        return True

    def add_name(self, row: dict[str, Any]) -> None:
        key = f"{row['event_id']}:name:{row['name']}"
        if key not in self.seen:
            self.seen.add(key)
            self.names.append(row)

    def retract(self, agreement_id: str, number: int, point: RecordPoint) -> None:
        """As `ScheduleTimeline.retract`, on the rows."""
        mark = _point_doc(point)
        for rows in (self.versions, self.names):
            for i, row in enumerate(rows):
                if (
                    row["retracted"] is None
                    and row["agreement_id"] == agreement_id
                    and row["amendment_number"] == number
                    and position_key(row["position"]) < point.key
                ):
                    rows[i] = {**row, "retracted": mark}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PortfolioRows:
        rows = cls()
        for v in doc["versions"]:
            rows.add_version(v)
        for n in doc["names"]:
            rows.add_name(n)
        return rows


def _fact(row: dict[str, Any]) -> Fact:
    to = row["effective_to"]
    return Fact(
        _KINDS[row["kind"]],
        date.fromisoformat(row["effective_from"]),
        None if to is None else date.fromisoformat(to),
        row["amendment_number"],
        position_key(row["position"]),
    )


def _set_by(row: dict[str, Any]) -> dict[str, Any]:
    """`services.audit.replay.provenance_json` of a stored version row."""
    return {
        "agreement_id": row["agreement_id"],
        "amendment_number": row["amendment_number"],
        "amendment_effective_date": row["amendment_effective_date"],
        "action": row["action"],
        "waiver": row["kind"] == "waiver",
        "event_id": row["event_id"],
        "position": row["position"],
        "recorded_at": row["recorded_at"],
    }


def derived(pid: str, rows: PortfolioRows, owner: str | None) -> tuple[str, str, list[str]]:
    """A portfolio's stored document, and its answers as known now: an index of segment start
    dates (fixed-width YYYYMMDD, which the lookup script bisects) and one answer per segment."""
    visible = [v for v in rows.versions if v["retracted"] is None]
    names = [
        NameFact(
            n["name"],
            date.fromisoformat(n["effective_from"]),
            n["amendment_number"],
            position_key(n["position"]),
        )
        for n in rows.names
        if n["retracted"] is None
    ]
    segments, latest = segments_now([_fact(v) for v in visible], names)
    doc = _dumps(
        {
            "portfolio_id": pid,
            "owner": owner,
            "latest": None if latest is None else visible[latest],
            "versions": rows.versions,
            "names": rows.names,
        }
    )
    index = "".join(f"{s.start.year:04d}{s.start.month:02d}{s.start.day:02d}" for s in segments)
    answers = []
    for s in segments:
        version = None if s.version is None else visible[s.version]
        base = None if s.base is None else visible[s.base]
        answers.append(
            _dumps(
                {
                    "name": s.name,
                    "removed": version is not None and version["kind"] == "remove",
                    "tiers": None if version is None else version["tiers"],
                    "set_by": None if version is None else _set_by(version),
                    "waived_schedule_set_by": None if base is None else _set_by(base),
                }
            )
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

    def load(self, doc: dict[str, Any]) -> None:
        pid = doc["portfolio_id"]
        self.portfolios[pid] = PortfolioRows.from_doc(doc)
        if doc.get("owner"):
            self.owner[pid] = doc["owner"]

    def rows(self, portfolio_id: str) -> PortfolioRows:
        rows = self.portfolios.get(portfolio_id)
        if rows is None:
            rows = self.portfolios[portfolio_id] = PortfolioRows()
        return rows

    def timeline(self, portfolio_id: str) -> ScheduleTimeline:
        """The portfolio as a domain timeline (for tests and checks; folding uses the rows)."""
        rows = self.rows(portfolio_id)
        return timeline_from_doc(
            {"portfolio_id": portfolio_id, "versions": rows.versions, "names": rows.names}
        )

    def _index_amendment(self, agreement_id: str, number: int, pids: list[str]) -> None:
        key = _amendment_field(agreement_id, number)
        self.amendments[key] = pids
        self.touched_amendments.add(key)
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
            for version in versions_of(amendment, provenance):
                self.rows(version.portfolio_id).add_version(version_doc(version))
                if version.kind is not VersionKind.WAIVER:
                    self.owner.setdefault(version.portfolio_id, amendment.agreement_id)
            for pid, name in names_of(amendment):
                self.rows(pid).add_name(
                    name_doc(NameVersion(name, amendment.effective_date, provenance))
                )
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

    def apply_trusted(self, position: str, entry: TrustedAmendment) -> None:
        """Fold an amendment the service wrote itself (see `trusted_amendment`): the same rows
        `apply` makes, built straight from the stored JSON."""
        a = entry.data
        agreement_id, number, effective = (
            a["agreement_id"],
            a["amendment_number"],
            a["effective_date"],
        )
        provenance = {
            "agreement_id": agreement_id,
            "amendment_number": number,
            "amendment_effective_date": effective,
            "event_id": a["event_id"],
            "recorded_at": entry.recorded_at,
            "position": position,
        }
        for change in a["changes"]:
            action = change["action"]
            if action == "rename":
                continue
            pid = change["portfolio_id"]
            row = {
                "kind": "remove"
                if action == "remove"
                else "waiver"
                if action == "waiver"
                else "set",
                "action": action,
                "tiers": change.get("tiers"),
                "effective_from": effective,
                "effective_to": None,
                **provenance,
                "retracted": None,
            }
            if action == "waiver":
                row["effective_from"] = change["period"]["from"]
                row["effective_to"] = change["period"]["to"]
            else:
                self.owner.setdefault(pid, agreement_id)
            self.rows(pid).add_version(row)
        for change in a["changes"]:
            action = change["action"]
            name = change["new_name"] if action == "rename" else change.get("portfolio_name")
            if name:
                self.rows(change["portfolio_id"]).add_name(
                    {"name": name, "effective_from": effective, **provenance, "retracted": None}
                )
        pids = sorted({c["portfolio_id"] for c in a["changes"]})
        self._index_amendment(agreement_id, number, pids)

    def portfolio_entries(self) -> Iterator[tuple[str, str, str, list[str]]]:
        """(portfolio id, document, answer index, answers) of every touched portfolio."""
        for pid in sorted(self.touched):
            yield (pid, *derived(pid, self.portfolios[pid], self.owner.get(pid)))

    def name_pairs(self) -> Iterator[tuple[str, str]]:
        for pid in sorted(self.touched):
            yield name_key(pid), pid
            for n in self.portfolios[pid].names:
                yield name_key(n["name"]), pid

    def amendment_pairs(self) -> Iterator[tuple[str, str]]:
        for key in sorted(self.touched_amendments):
            yield key, _dumps(self.amendments[key])


# ---- trusted entries: the rebuild's fast path -------------------------------------------------

_ID = re.compile(r"[^\s]{1,200}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"(?:0|[1-9]\d*)(?:\.\d+)?")
_AMENDMENT_KEYS = frozenset(
    {
        "type",
        "schema_version",
        "event_id",
        "occurred_at",
        "agreement_id",
        "amendment_number",
        "effective_date",
        "executed_date",
        "source",
        "changes",
    }
)
_CHANGE_KEYS = {
    "add": frozenset({"action", "portfolio_id", "portfolio_name", "tiers"}),
    "remove": frozenset({"action", "portfolio_id"}),
    "rename": frozenset({"action", "portfolio_id", "new_name", "former_name"}),
    "waiver": frozenset({"action", "portfolio_id", "portfolio_name", "tiers", "period"}),
}
_CHANGE_KEYS["revise"] = _CHANGE_KEYS["replace"] = _CHANGE_KEYS["add"]


@dataclass(frozen=True, slots=True)
class TrustedAmendment:
    data: dict[str, Any]
    recorded_at: str


def _is_id(value: Any) -> bool:
    return type(value) is str and _ID.fullmatch(value) is not None


def _is_name(value: Any, optional: bool = False) -> bool:
    if value is None:
        return optional
    return type(value) is str and 0 < len(value) <= 500


def _is_date(value: Any) -> bool:
    try:
        return type(value) is str and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _is_source(value: Any) -> bool:
    if type(value) is not dict or value.keys() != {"title", "sha256", "url"}:
        return False
    title, sha, url = value["title"], value["sha256"], value["url"]
    return (
        (title is None or (type(title) is str and len(title) <= 1000))
        and (url is None or (type(url) is str and len(url) <= 2000))
        and (sha is None or (type(sha) is str and _SHA256.fullmatch(sha) is not None))
    )


class Schedules:
    """Tier lists already checked by the domain (`FeeSchedule.from_json`) and in the exact
    form `FeeSchedule.as_json` stores; fee schedules repeat across portfolios, so each
    distinct one is checked once."""

    def __init__(self, limit: int = 100_000) -> None:
        self._known: dict[tuple[Any, ...], list[dict[str, str | None]]] = {}
        self._limit = limit

    def canonical(self, tiers: Any) -> list[dict[str, str | None]] | None:
        if type(tiers) is not list or not 0 < len(tiers) <= 50:
            return None
        key: list[Any] = []
        for tier in tiers:
            if type(tier) is not dict or len(tier) != 3:
                return None
            key.append((tier.get("from"), tier.get("to"), tier.get("rate_pct")))
        frozen = tuple(key)
        try:
            known = self._known.get(frozen)
        except TypeError:  # an unhashable value where a string belongs
            return None
        if known is not None:
            return known
        for values in frozen:
            for i, value in enumerate(values):
                if value is None and i == 1:
                    continue
                if type(value) is not str or len(value) > 64 or not _DECIMAL.fullmatch(value):
                    return None
        try:
            schedule = FeeSchedule.from_json(tiers)
        except DomainError:
            return None
        stored = schedule.as_json()
        if stored != tiers:
            return None
        if len(self._known) >= self._limit:
            self._known.clear()
        self._known[frozen] = stored
        return stored


def trusted_amendment(fields: dict[Any, Any], schedules: Schedules) -> TrustedAmendment | None:
    """An `AmendmentRecorded` exactly as this service writes it, or None (then the entry goes
    through full validation, `decode_entry`).

    The recorder validated every event before appending it, so a rebuild may skip pydantic for
    entries that have precisely our shape: known fields only, ids, names and dates well formed,
    schedules accepted by the domain. Anything else, however harmless, takes the slow path.
    """
    data = fields.get(b"data")
    if (
        fields.get(b"type") != b"AmendmentRecorded"
        or fields.get(b"schema_version") != b"1"
        or data is None
        or len(data) > MAX_ENTRY_BYTES
        or len(fields) != 4
    ):
        return None
    try:
        a = pydantic_core.from_json(data)
    except ValueError:
        return None
    if (
        type(a) is not dict
        or a.keys() != _AMENDMENT_KEYS
        or a["type"] != "AmendmentRecorded"
        or a["schema_version"] != 1
        or type(a["schema_version"]) is not int
        or fields.get(b"event_id") != a["event_id"].encode()
        or not _is_id(a["event_id"])
        or not _is_id(a["agreement_id"])
        or type(a["amendment_number"]) is not int
        or a["amendment_number"] < 0
        or not _is_date(a["effective_date"])
        or not (a["executed_date"] is None or _is_date(a["executed_date"]))
        or not _is_source(a["source"])
        or type(a["changes"]) is not list
        or not 0 < len(a["changes"]) <= 500
        or type(a["occurred_at"]) is not str
    ):
        return None
    try:
        occurred = datetime.fromisoformat(a["occurred_at"])
    except ValueError:
        return None
    for change in a["changes"]:
        if type(change) is not dict:
            return None
        keys = _CHANGE_KEYS.get(change.get("action"))  # type: ignore[arg-type]
        if keys is None or change.keys() != keys or not _is_id(change["portfolio_id"]):
            return None
        action = change["action"]
        if action == "rename":
            if not _is_name(change["new_name"]) or not (
                change["former_name"] is None or type(change["former_name"]) is str
            ):
                return None
        elif action != "remove":
            if not _is_name(change["portfolio_name"], optional=action == "waiver"):
                return None
            tiers = schedules.canonical(change["tiers"])
            if tiers is None:
                return None
            change["tiers"] = tiers
            if action == "waiver":
                period = change["period"]
                if (
                    type(period) is not dict
                    or period.keys() != {"from", "to"}
                    or not _is_date(period["from"])
                    or not _is_date(period["to"])
                ):
                    return None
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    return TrustedAmendment(a, occurred.isoformat())


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
        if skeleton is None:
            skeleton = timeline_from_doc(self.document, schedules=False)
        answer = skeleton.schedule_on(on, known_at)
        tiers = {
            (v["position"], v["kind"], v["effective_from"]): v["tiers"]
            for v in self.document["versions"]
        }

        def filled(version: ScheduleVersion | None) -> ScheduleVersion | None:
            if version is None:
                return None
            key = (
                version.provenance.recorded.position,
                version.kind.value,
                version.effective_from.isoformat(),
            )
            raw = tiers.get(key)
            return replace(version, schedule=None if raw is None else FeeSchedule.from_json(raw))

        version, base = filled(answer.version), filled(answer.base)
        schedule = None
        if version is not None and version.kind is not VersionKind.REMOVE:
            schedule = version.schedule
        return replace(answer, schedule=schedule, version=version, base=base)


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

    def _pages(self, page: int) -> Iterator[list[tuple[Any, Any]]]:
        """The whole log in pages; the next page is read while the caller folds this one
        (Redis answers on its own core, and a blocking socket read releases the GIL)."""
        ahead: list[Any] = []

        def fetch(start: str) -> None:
            ahead.append(self.client.xrange(self.keys.agreements, min=start, max="+", count=page))

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
        self, *, page: int = 2000, progress: Callable[[int], None] | None = None
    ) -> RebuildResult:
        """Replay the whole log into a fresh generation, catch up, swap the pointer, drop the old.

        Amendments in exactly the shape the recorder writes are folded from their JSON
        (`trusted_amendment`); every other entry is validated in full (`decode_entry`) and
        dead-lettered if it cannot be read. Each document is written once, at the end.

        The old generation is deleted right after the swap: every read resolves the pointer
        and reads the documents inside one Lua script, so no reader can still be holding the
        old generation's name between two of its reads.
        """
        with _no_cyclic_gc():
            gen, count = self._fold_into_new_generation(page, progress)
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
        self, page: int, progress: Callable[[int], None] | None
    ) -> tuple[str, int]:
        gen = new_generation()
        projection = Projection()
        schedules = Schedules()
        count = 0
        last = ""
        for rows in self._pages(page):
            for raw_id, fields in rows:
                entry_id = _text(raw_id)
                trusted = trusted_amendment(fields, schedules)
                if trusted is not None:
                    projection.apply_trusted(entry_id, trusted)
                    continue
                for position, message in self._decode([(raw_id, fields)], self.dead_letter):
                    projection.apply(position, message)
            if rows:
                last = _text(rows[-1][0])
                count += len(rows)
                if progress is not None:
                    progress(len(rows))
        projection.touched = set(projection.portfolios)
        projection.touched_amendments = set(projection.amendments)
        self._bulk_write(gen, projection, last)
        return gen, count

    def _bulk_write(self, gen: str, projection: Projection, checkpoint: str) -> None:
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
            ("names", list(projection.name_pairs())),
            ("amendments", list(projection.amendment_pairs())),
            ("agreements", list(projection.agreements.items())),
        ):
            for i in range(0, len(pairs), chunk):
                pipe.hset(self.gen_key(gen, part), mapping=dict(pairs[i : i + chunk]))
                if len(pipe) >= 10:
                    pipe.execute()
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
