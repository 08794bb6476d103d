"""The ports the use cases take: the agreements log and the read model (the ledger's port is
`services.app.ledger.LedgerStore`). Each has a Redis implementation and an in-memory twin in
`services.adapters`, and one reusable test case runs against both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from contracts.messages import DeadLetterCode, Message
from services.domain.book import LogEvent, ScheduleBook
from services.domain.timeline import ScheduleTimeline

# A log entry as stored: (entry id, its wire fields).
RawEntry = tuple[str, dict[bytes, bytes]]


class VersionConflict(Exception):
    """Another writer recorded an event for the agreement since its state was read."""

    def __init__(self, agreement_id: str, expected: int, actual: int) -> None:
        self.agreement_id = agreement_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"agreement {agreement_id!r}: expected version {expected}, but it is at {actual}"
            " (another writer recorded first; reload and retry)"
        )


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an event landed: its log entry id and the agreement's version after it."""

    entry_id: str
    version: int
    # True when the idempotency key was seen before: nothing was appended this time.
    duplicate: bool = False


class EventLog(Protocol):
    """The agreements log: guarded appends, one agreement's events, and ranges in log order."""

    def append(
        self, message: Message, expected_version: int, idempotency_key: str | None = None
    ) -> AppendResult:
        """Append if the agreement is at `expected_version` (else VersionConflict); a key seen
        before appends nothing and answers the entry it recorded."""
        ...

    def duplicate_of(self, idempotency_key: str, agreement_id: str) -> AppendResult | None: ...

    def recorded(self, idempotency_key: str) -> str | None:
        """The entry id a key recorded, if any."""
        ...

    def events_of(self, agreement_id: str, after: int = 0) -> list[tuple[str, Message]]: ...

    def entries(self, after: str | None, until: str, count: int) -> list[RawEntry]:
        """Up to `count` entries after `after` (exclusive; None: from the start) up to `until`
        (inclusive; "+": the end), undecoded."""
        ...

    def last_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Lookup:
    """One portfolio as the read model holds it, read from a single generation."""

    generation: str
    portfolio_id: str
    checkpoint: str
    document: dict[str, Any]
    timeline: ScheduleTimeline


class ReadModelStore(Protocol):
    """Generations of the folded log: the current one follows the log, a new one is built by
    a rebuild and swapped in once it has caught up."""

    def current(self) -> str | None: ...

    def ensure_current(self) -> str: ...

    def checkpoint(self, generation: str) -> str: ...

    def load(self, generation: str, events: Sequence[LogEvent]) -> ScheduleBook:
        """The agreements and timelines the events will change, as a book to fold them into."""
        ...

    def save(
        self,
        generation: str,
        expected_checkpoint: str,
        checkpoint: str,
        book: ScheduleBook,
        *,
        require_current: bool,
    ) -> bool:
        """Write the book's agreements and timelines with the checkpoint they reach, if the
        checkpoint is still `expected_checkpoint` (and, if required, the generation current);
        False on a race."""
        ...

    def create(self, book: ScheduleBook, checkpoint: str) -> str:
        """A new generation holding the whole book (not current until `swap`)."""
        ...

    def swap(self, generation: str, log_end: str) -> tuple[str, str]:
        """('ok', previous generation) if `generation` is caught up with `log_end`, else
        ('behind', its checkpoint)."""
        ...

    def drop(self, generation: str) -> None: ...

    def lookup(self, name_or_id: str) -> Lookup | None: ...

    def answer_now(self, name_or_id: str, on: date) -> tuple[str, dict[str, Any]] | None: ...

    def dead_letter(
        self, entry_id: str, fields: dict[bytes, bytes], reason: str, code: DeadLetterCode
    ) -> None: ...
