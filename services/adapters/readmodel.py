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

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
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
from services.domain.fees import FeeSchedule
from services.domain.timeline import (
    KnownAt,
    NameVersion,
    Provenance,
    RecordPoint,
    ScheduleAnswer,
    ScheduleTimeline,
    ScheduleVersion,
    VersionKind,
    position_key,
)
from services.mapping import amendment_from_wire, record_point


def _script(name: str) -> str:
    return resources.files("services.adapters").joinpath(name).read_text()


_APPLY_LUA = _script("readmodel_apply.lua")
_LOOKUP_LUA = _script("readmodel_lookup.lua")
_SWAP_LUA = _script("readmodel_swap.lua")


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


def timeline_doc(timeline: ScheduleTimeline, owner: str | None) -> dict[str, Any]:
    """A portfolio's read-model document: all versions, all names, and the latest schedule."""
    latest = None
    for interval in timeline.intervals():
        latest = interval.version
    return {
        "portfolio_id": timeline.portfolio_id,
        "owner": owner,
        "latest": None if latest is None else version_doc(latest),
        "versions": [version_doc(v) for v in timeline.versions],
        "names": [
            {
                "name": n.name,
                "effective_from": n.effective_from.isoformat(),
                **_provenance_doc(n.provenance),
                "retracted": _point_doc(n.retracted),
            }
            for n in timeline.names
        ],
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


def _amendment_field(agreement_id: str, number: int) -> str:
    return f"{agreement_id}#{number}"


# ---- projecting log entries ------------------------------------------------------------------


@dataclass
class Projection:
    """Part (or all) of a generation in memory: a `ScheduleBook` plus what the keys hold."""

    timelines: dict[str, ScheduleTimeline] = field(default_factory=dict)
    # Which agreement governs each portfolio's fee (the first to set its schedule).
    owner: dict[str, str] = field(default_factory=dict)
    amendments: dict[str, list[str]] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    touched_amendments: set[str] = field(default_factory=set)
    agreements: dict[str, str] = field(default_factory=dict)

    def load(self, doc: dict[str, Any]) -> None:
        pid = doc["portfolio_id"]
        self.timelines[pid] = timeline_from_doc(doc)
        if doc.get("owner"):
            self.owner[pid] = doc["owner"]

    def timeline(self, portfolio_id: str) -> ScheduleTimeline:
        if portfolio_id not in self.timelines:
            self.timelines[portfolio_id] = ScheduleTimeline(portfolio_id)
        return self.timelines[portfolio_id]

    def apply(self, position: str, message: Message) -> None:
        """Fold one log entry, remembering which documents it changed.

        The same domain steps as `ScheduleBook.record_amendment` / `retract` (versions_of,
        names_of, ScheduleTimeline.record/retract), minus the agreement aggregate, which a read
        model does not need.
        """
        if isinstance(message, AmendmentRecorded):
            amendment = amendment_from_wire(message)
            point = record_point(message, position)
            provenance = Provenance(
                amendment.agreement_id,
                amendment.number,
                amendment.effective_date,
                message.event_id,
                point,
            )
            for version in versions_of(amendment, provenance):
                self.timeline(version.portfolio_id).record(version)
                if version.kind is not VersionKind.WAIVER:
                    self.owner.setdefault(version.portfolio_id, amendment.agreement_id)
            for pid, name in names_of(amendment):
                self.timeline(pid).record_name(
                    NameVersion(name, amendment.effective_date, provenance)
                )
            pids = sorted({c.portfolio_id for c in message.changes})
            key = _amendment_field(message.agreement_id, message.amendment_number)
            self.amendments[key] = pids
            self.touched_amendments.add(key)
            self.touched.update(pids)
        elif isinstance(message, AmendmentRetracted):
            point = record_point(message, position)
            key = _amendment_field(message.agreement_id, message.amendment_number)
            for pid in self.amendments.get(key, ()):
                self.timeline(pid).retract(message.agreement_id, message.amendment_number, point)
                self.touched.add(pid)
        elif isinstance(message, AgreementRegistered):
            self.agreements[message.agreement_id] = message.model_dump_json(
                include={"agreement_id", "agreement_date", "trust", "adviser", "day_count"}
                | {"rounding"}
            )

    def portfolio_pairs(self) -> Iterator[tuple[str, str]]:
        for pid in sorted(self.touched):
            timeline = self.timelines[pid]
            yield pid, _dumps(timeline_doc(timeline, self.owner.get(pid)))

    def name_pairs(self) -> Iterator[tuple[str, str]]:
        for pid in sorted(self.touched):
            yield name_key(pid), pid
            for n in self.timelines[pid].names:
                yield name_key(n.name), pid

    def amendment_pairs(self) -> Iterator[tuple[str, str]]:
        for key in sorted(self.touched_amendments):
            yield key, _dumps(self.amendments[key])


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
                    projection.load(json.loads(raw))

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
        groups = [
            list(projection.portfolio_pairs()),
            list(projection.name_pairs()),
            list(projection.amendment_pairs()),
            list(projection.agreements.items()),
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

    def rebuild(
        self, *, page: int = 2000, progress: Callable[[int], None] | None = None
    ) -> RebuildResult:
        """Replay the whole log into a fresh generation, catch up, swap the pointer, drop the old.

        The old generation is deleted right after the swap: every read resolves the pointer
        and reads the documents inside one Lua script, so no reader can still be holding the
        old generation's name between two of its reads.
        """
        gen = new_generation()
        projection = Projection()
        count = 0
        last = ""
        start = "-"
        while True:
            rows: Any = self.client.xrange(self.keys.agreements, min=start, max="+", count=page)
            for entry_id, message in self._decode(rows, self.dead_letter):
                projection.apply(entry_id, message)
            if rows:
                last = _text(rows[-1][0])
                start = "(" + last
                count += len(rows)
                if progress is not None:
                    progress(len(rows))
            if len(rows) < page:
                break
        projection.touched = set(projection.timelines)
        projection.touched_amendments = set(projection.amendments)
        self._bulk_write(gen, projection, last)
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

    def _bulk_write(self, gen: str, projection: Projection, checkpoint: str) -> None:
        # The generation is invisible until the swap, so plain pipelined writes are safe here.
        pipe = self.client.pipeline(transaction=False)
        chunk = 500
        for part, pairs in (
            ("portfolios", list(projection.portfolio_pairs())),
            ("names", list(projection.name_pairs())),
            ("amendments", list(projection.amendment_pairs())),
            ("agreements", list(projection.agreements.items())),
        ):
            for i in range(0, len(pairs), chunk):
                pipe.hset(self.gen_key(gen, part), mapping=dict(pairs[i : i + chunk]))
        pipe.set(self.gen_key(gen, "checkpoint"), checkpoint)
        pipe.execute()

    def drop(self, generation: str) -> None:
        parts = ("portfolios", "names", "amendments", "agreements", "checkpoint")
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
