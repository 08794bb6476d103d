"""Folding log entries into document rows: reading an entry as its message, and `Projection`.

Every entry, live or in a rebuild, is read by `decode_entries` (full validation) and folded by
`Projection.fold`: the domain's steps (`versions_of`, `names_of`), kept as the rows of each
portfolio's stored document (`PortfolioRows`, serialized once, at the end). An entry that cannot
be read, or that the domain's rules reject, is dead-lettered and not folded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from contracts.messages import (
    MESSAGE_TYPES,
    AgreementRegistered,
    AmendmentRecorded,
    AmendmentRetracted,
    DeadLetterCode,
    Message,
)
from contracts.wire import MAX_ENTRY_BYTES, WireError, decode
from services.adapters.readmodel.documents import (
    NameRow,
    PortfolioRows,
    derived,
    json_text,
    source_of,
    version_row,
)
from services.adapters.readmodel.naming import amendment_field, name_key
from services.domain.agreement import names_of, versions_of
from services.domain.errors import DomainError
from services.domain.timeline import Provenance, VersionKind
from services.mapping import amendment_from_wire, record_point

# Where an entry that is not folded goes: (entry id, its fields, why, DeadLetter.code).
OnPoison = Callable[[str, dict[bytes, bytes], str, DeadLetterCode], None]
# A log entry read: (entry id, its fields, its message).
Decoded = tuple[str, dict[bytes, bytes], Message]


def as_str(value: bytes | str) -> str:
    """An entry id, field or script reply as text (the client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def decode_entry(fields: dict[Any, Any]) -> Message:
    """An entry of the log as its message, validated in full.

    An entry in our own wire format is parsed straight into its model by pydantic-core
    (`model_validate_json`); anything else, or anything that fails, takes
    `contracts.wire.decode`, which names what is wrong.
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
    rows: Iterable[tuple[Any, Any]], on_poison: OnPoison | None
) -> Iterator[Decoded]:
    """Each entry that decodes; the others go to `on_poison` (if any) as "invalid_event"."""
    for raw_id, fields in rows:
        entry_id = as_str(raw_id)
        try:
            yield entry_id, fields, decode_entry(fields)
        except WireError as exc:
            if on_poison is not None:
                on_poison(entry_id, fields, str(exc), "invalid_event")


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

    def _index_amendment(self, agreement_id: str, number: int, pids: list[str]) -> None:
        key = amendment_field(agreement_id, number)
        self.amendments[key] = pids
        self.touched_amendments.add(key)
        self.touched.update(pids)

    def fold(self, entries: Iterable[Decoded], on_poison: OnPoison | None) -> None:
        """Apply each entry in order; one the domain's rules reject is not folded but goes to
        `on_poison` (if any) as "rejected_by_rules"."""
        for position, fields, message in entries:
            try:
                self.apply(position, message)
            except DomainError as exc:
                if on_poison is not None:
                    on_poison(position, fields, str(exc), "rejected_by_rules")

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
