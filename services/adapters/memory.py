"""In-memory twins of the `EventLog` and `ReadModelStore` ports, for unit tests and for
trying the use cases without Redis. They keep the invariants the Redis scripts keep (expected
version and idempotency on append; checkpoint compare-and-set on a write; a generation swapped
in only once caught up) and store the same encoded entries and documents."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from contracts.messages import DeadLetterCode, Message
from contracts.wire import decode, encode
from services.adapters.eventstore import agreement_of
from services.adapters.readmodel.codec import Documents
from services.app.ports import AppendResult, RawEntry, VersionConflict
from services.domain.book import ScheduleBook
from services.domain.names import name_key
from services.domain.timeline import position_key


class InMemoryEventLog:
    """The agreements log in a list; entry ids "n-0" in append order."""

    def __init__(self) -> None:
        self._entries: list[RawEntry] = []
        self._events: dict[str, list[str]] = {}
        self._keys: dict[str, str] = {}

    def append(
        self, message: Message, expected_version: int, idempotency_key: str | None = None
    ) -> AppendResult:
        agreement_id = agreement_of(message)
        if idempotency_key and (seen := self.duplicate_of(idempotency_key, agreement_id)):
            return seen
        events = self._events.setdefault(agreement_id, [])
        if len(events) != expected_version:
            raise VersionConflict(agreement_id, expected_version, len(events))
        entry_id = f"{len(self._entries) + 1}-0"
        fields = {k.encode(): v.encode() for k, v in encode(message).items()}
        self._entries.append((entry_id, fields))
        events.append(entry_id)
        if idempotency_key:
            self._keys[idempotency_key] = entry_id
        return AppendResult(entry_id, len(events))

    def duplicate_of(self, idempotency_key: str, agreement_id: str) -> AppendResult | None:
        seen = self._keys.get(idempotency_key)
        if seen is None:
            return None
        events = self._events.get(agreement_id, [])
        index = events.index(seen) + 1 if seen in events else 0
        return AppendResult(seen, index, duplicate=True)

    def recorded(self, idempotency_key: str) -> str | None:
        return self._keys.get(idempotency_key)

    def events_of(self, agreement_id: str, after: int = 0) -> list[tuple[str, Message]]:
        ids = set(self._events.get(agreement_id, [])[after:])
        return [(i, decode(f)) for i, f in self._entries if i in ids]

    def entries(self, after: str | None, until: str, count: int) -> list[RawEntry]:
        low = (-1, -1) if after is None else position_key(after)
        high = None if until == "+" else position_key(until)
        chosen = (
            (i, f)
            for i, f in self._entries
            if position_key(i) > low and (high is None or position_key(i) <= high)
        )
        return list(itertools.islice(chosen, count))

    def last_id(self) -> str | None:
        return self._entries[-1][0] if self._entries else None


@dataclass
class _Generation:
    parts: dict[str, dict[str, str]] = field(
        default_factory=lambda: {p: {} for p in ("portfolios", "now", "names", "agreements")}
    )
    checkpoint: str = ""


class InMemoryReadModel(Documents):
    """Generations of documents in dicts, and the dead letters in a list."""

    def __init__(self, log: InMemoryEventLog) -> None:
        self.log = log
        self.generations: dict[str, _Generation] = {}
        self.pointer: str | None = None
        self.dead_letters: list[tuple[str, dict[bytes, bytes], str, DeadLetterCode]] = []
        self._numbers = itertools.count(1)

    def current(self) -> str | None:
        return self.pointer

    def ensure_current(self) -> str:
        if self.pointer is None:
            self.pointer = self._new()
        return self.pointer

    def _new(self) -> str:
        gen = f"g{next(self._numbers)}"
        self.generations[gen] = _Generation()
        return gen

    def checkpoint(self, generation: str) -> str:
        return self.generations[generation].checkpoint

    def _documents(self, generation: str, part: str, ids: list[str]) -> list[str | bytes | None]:
        docs = self.generations[generation].parts[part]
        return [docs.get(i) for i in ids]

    def save(
        self,
        generation: str,
        expected_checkpoint: str,
        checkpoint: str,
        book: ScheduleBook,
        *,
        require_current: bool,
    ) -> bool:
        held = self.generations[generation]
        stale = held.checkpoint != expected_checkpoint
        if stale or (require_current and self.pointer != generation):
            return False
        self._write(generation, book, checkpoint)
        return True

    def _write(self, generation: str, book: ScheduleBook, checkpoint: str) -> None:
        for part, pairs in self._written(generation, book).items():
            self.generations[generation].parts[part].update(pairs)
        self.generations[generation].checkpoint = checkpoint

    def create(self, book: ScheduleBook, checkpoint: str) -> str:
        gen = self._new()
        self._write(gen, book, checkpoint)
        return gen

    def swap(self, generation: str, log_end: str) -> tuple[str, str]:
        held = self.generations[generation]
        if held.checkpoint != (self.log.last_id() or ""):
            return "behind", held.checkpoint
        previous, self.pointer = self.pointer or "", generation
        return "ok", previous

    def drop(self, generation: str) -> None:
        self.generations.pop(generation, None)

    def _read(self, name_or_id: str, part: str) -> tuple[str, str, str, str]:
        if self.pointer is None:
            return "", "", "", ""
        held = self.generations[self.pointer]
        docs = held.parts[part]
        pid = name_or_id if name_or_id in docs else held.parts["names"].get(name_key(name_or_id))
        if pid is None or pid not in docs:
            return "", "", "", ""
        return self.pointer, pid, docs[pid], held.checkpoint

    def dead_letter(
        self, entry_id: str, fields: dict[bytes, bytes], reason: str, code: DeadLetterCode
    ) -> None:
        self.dead_letters.append((entry_id, fields, reason, code))
