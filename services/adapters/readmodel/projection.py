"""Folding log entries into document rows: reading an entry as its message, and `Projection`.

A projection keeps each portfolio as the rows of its stored document (`PortfolioRows`, not
domain objects), and a document is serialized once, at the end. The live path turns validated
messages into those rows through the domain (`versions_of`, `names_of`); the rebuild's fast
path (`Projection.apply_trusted`) builds the same rows straight from trusted JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contracts.messages import (
    MESSAGE_TYPES,
    AgreementRegistered,
    AmendmentRecorded,
    AmendmentRetracted,
    Message,
)
from contracts.wire import MAX_ENTRY_BYTES, WireError, decode
from services.adapters.readmodel.documents import (
    NameRow,
    PortfolioRows,
    Source,
    VersionRow,
    derived,
    json_text,
    source_of,
    version_row,
)
from services.adapters.readmodel.naming import amendment_field, name_key
from services.domain.agreement import names_of, versions_of
from services.domain.timeline import Provenance, VersionKind
from services.mapping import amendment_from_wire, record_point

if TYPE_CHECKING:
    from services.adapters.readmodel.rebuild import Partition
    from services.adapters.readmodel.trusted import OneChange


def as_str(value: bytes | str) -> str:
    """An entry id, field or script reply as text (the client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value


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


def decode_entries(
    rows: Iterable[tuple[Any, Any]],
    on_poison: Callable[[str, dict[bytes, bytes], str], None] | None,
) -> Iterator[tuple[str, Message]]:
    """(entry id, message) of each entry that decodes; the others go to `on_poison`, if any."""
    for raw_id, fields in rows:
        entry_id = as_str(raw_id)
        try:
            yield entry_id, decode_entry(fields)
        except WireError as exc:
            if on_poison is not None:
                on_poison(entry_id, fields, str(exc))


def affected_portfolios(message: Message) -> list[str]:
    """The portfolios whose documents a live apply must load first (retractions: see
    `ReadModel._load`, which reads them from the `:amendments` index)."""
    if isinstance(message, AmendmentRecorded):
        return sorted({c.portfolio_id for c in message.changes})
    return []


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

    def _index_amendment(self, agreement_id: str, number: int, pids: list[str]) -> None:
        key = amendment_field(agreement_id, number)
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
            source = source_of(provenance)
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
            key = amendment_field(message.agreement_id, message.amendment_number)
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
        # One pass: a change's version and name go to separate lists of its portfolio's rows,
        # so each list keeps the changes' order (as `apply`: versions, then names).
        for change in changes:
            action = change["action"]
            pid = change["portfolio_id"]
            if action == "rename":
                name = change["new_name"]
                if name:
                    rows(pid).add_name(NameRow(name, source))
                continue
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
            target = rows(pid)
            target.add_version(row)
            name = change.get("portfolio_name")
            if name:
                target.add_name(NameRow(name, source))
        pids = (
            [changes[0]["portfolio_id"]]
            if len(changes) == 1
            else sorted({c["portfolio_id"] for c in changes})
        )
        self._index_folded(agreement_id, source.amendment_number, pids)

    def apply_one(self, position: str, c: OneChange) -> None:
        """`apply_trusted` of the commonest amendment (one change setting a schedule), from
        its fields as read off the entry's text."""
        agreement_id, number, effective, pid = (
            c.agreement_id,
            c.amendment_number,
            c.effective_date,
            c.portfolio_id,
        )
        source = Source(agreement_id, number, effective, c.event_id, c.recorded_at, position)
        target = self.rows(pid)
        target.add_version(VersionRow("set", c.action, c.tiers, effective, None, source))
        target.add_name(NameRow(c.portfolio_name, source))
        if pid not in self.owner:
            self.owner[pid] = agreement_id
        self._index_folded(agreement_id, number, [pid])

    def _index_folded(self, agreement_id: str, number: int, pids: list[str]) -> None:
        """`_index_amendment` for a whole-log fold, whose caller marks every portfolio and
        amendment touched at the end."""
        key = amendment_field(agreement_id, number)
        self.amendments[key] = pids
        if self.owning:
            self.owned_amendments.add(key)

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
                text = texts[pids] = json_text(pids)
            yield key, text
