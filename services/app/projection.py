"""Use cases of the read model: follow the log (`catch_up`) and `rebuild` it from nothing.

Both fold the log through the domain's one path (`ScheduleBook.apply`) and hand the book to
the `ReadModelStore`, which stores what the domain computed. An entry that cannot be read, or
whose amendment the domain's rules refuse, goes to `on_poison` and is never folded; the
checkpoint moves past it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from contracts.messages import MESSAGE_TYPES, DeadLetterCode, Message
from contracts.wire import MAX_ENTRY_BYTES, WireError, decode
from services.app.ports import EventLog, RawEntry, ReadModelStore
from services.domain.book import LogEvent, ScheduleBook
from services.domain.errors import DomainError
from services.domain.timeline import position_key
from services.mapping import event_from_wire

__all__ = ["EventLog", "RebuildResult", "catch_up", "decode_entry", "read_events", "rebuild"]

# Where an entry that is not folded goes: (entry id, its fields, why, DeadLetter.code).
OnPoison = Callable[[str, dict[bytes, bytes], str, DeadLetterCode], None]


@dataclass(frozen=True, slots=True)
class RebuildResult:
    generation: str
    previous: str | None
    events: int


def decode_entry(fields: Mapping[Any, Any]) -> Message:
    """A log entry as its message, validated in full: our own wire format straight into its
    model by pydantic-core; anything else, or anything that fails, through
    `contracts.wire.decode`, which names what is wrong."""
    kind, data = fields.get(b"type"), fields.get(b"data")
    model = MESSAGE_TYPES.get(kind.decode()) if kind is not None else None
    if model is not None and data is not None and len(data) <= MAX_ENTRY_BYTES:
        try:
            return model.model_validate_json(data)
        except ValueError:
            pass
    return decode(fields)


def read_events(rows: Sequence[RawEntry], on_poison: OnPoison | None) -> list[LogEvent]:
    """The domain events of the entries that can be folded; the others go to `on_poison`."""
    events: list[LogEvent] = []
    for entry_id, fields in rows:
        try:
            event = event_from_wire(decode_entry(fields), entry_id)
        except WireError as exc:
            if on_poison is not None:
                on_poison(entry_id, fields, str(exc), "invalid_event")
        except DomainError as exc:
            if on_poison is not None:
                on_poison(entry_id, fields, str(exc), "rejected_by_rules")
        else:
            if event is not None:
                events.append(event)
    return events


def catch_up(
    log: EventLog,
    store: ReadModelStore,
    until: str = "+",
    *,
    generation: str | None = None,
    page: int = 500,
    on_poison: OnPoison | None = None,
) -> int:
    """Fold every log entry after the generation's checkpoint up to `until`, a page at a
    time, each page written with its checkpoint in one step. Entries at or before the
    checkpoint are no-ops, so a redelivery changes nothing. With `generation` None the current
    generation is followed (and re-resolved after a swap). Returns the entries folded."""
    applied = 0
    while True:
        gen = generation or store.ensure_current()
        checkpoint = store.checkpoint(gen)
        if until != "+" and checkpoint and position_key(checkpoint) >= position_key(until):
            return applied
        rows = log.entries(checkpoint or None, until, page)
        if not rows:
            return applied
        events = read_events(rows, on_poison)
        book = store.load(gen, events)
        for event in events:
            book.apply(event)
        if store.save(gen, checkpoint, rows[-1][0], book, require_current=generation is None):
            applied += len(rows)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic collector while a rebuild allocates its (acyclic) objects: otherwise
    it re-walks the ever larger heap many times over, and in a forked writer each walk writes
    to every page of the heap it shares with its parent. Reference counting frees as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fold_log(
    log: EventLog, store: ReadModelStore, end: str, page: int, progress: Callable[[int], None]
) -> tuple[ScheduleBook, int]:
    book, count = ScheduleBook(), 0
    for rows in _prefetched(lambda after: log.entries(after, end, page)):
        for event in read_events(rows, store.dead_letter):
            book.apply(event)
        count += len(rows)
        progress(len(rows))
    return book, count


def _prefetched(read: Callable[[str | None], list[RawEntry]]) -> Iterator[list[RawEntry]]:
    """Pages of the log, the next one read while the caller folds this one (the log answers
    on its own core, and waiting on a socket releases the GIL)."""
    with ThreadPoolExecutor(1) as reader:
        ahead = reader.submit(read, None)
        while rows := ahead.result():
            ahead = reader.submit(read, rows[-1][0])
            yield rows


def rebuild(
    log: EventLog,
    store: ReadModelStore,
    *,
    page: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> RebuildResult:
    """Fold the whole log into a new generation, catch it up, swap it in, drop the old one.

    Every entry is validated in full and folded as the live projector folds it; one that
    cannot be read or that the domain refuses is dead-lettered. The old generation is dropped
    at once: every read resolves the pointer and reads in one step, so no reader can still
    hold the old generation's name between two of its reads.
    """
    end = log.last_id()
    book, count = ScheduleBook(), 0
    with _no_cyclic_gc():  # the fold and the writers forked from it (see `_no_cyclic_gc`)
        if end is not None:
            book, count = _fold_log(log, store, end, page, progress or (lambda n: None))
        gen = store.create(book, end or "")
        # Freed before the collector resumes: its first collection would otherwise walk every
        # object the fold made (all young, and none of them in a cycle).
        del book
    while True:
        count += catch_up(log, store, generation=gen)
        status, other = store.swap(gen, log.last_id() or "")
        if status == "ok":
            break
    if other:
        store.drop(other)
    return RebuildResult(gen, other or None, count)
