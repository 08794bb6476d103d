"""`ReadModel`: the read model of one key prefix in Redis (the `ReadModelStore` port).

A generation is five keys under `keys.read_model(gen)`: `:portfolios` (portfolio id -> its
timeline's document), `:now` (portfolio id -> its answers as known now), `:names` (name key or
id -> portfolio id, renames included), `:agreements` (agreement id -> its document) and
`:checkpoint` (the last log entry folded). `keys.read_model_pointer` names the current
generation. Every write moves documents and checkpoint together (apply.lua), every read
resolves the pointer and reads in one script (lookup.lua), so no reader mixes generations.
What the documents hold is `codec`'s; what the log does to them is the domain's fold
(`services.app.projection`).
"""

from __future__ import annotations

import multiprocessing
import time
from importlib import resources
from typing import Any

import redis

from contracts.messages import DeadLetter, DeadLetterCode
from contracts.wire import encode
from services.adapters.connection import text
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.readmodel.codec import (
    Documents,
    agreement_doc,
    name_pairs,
    portfolio_docs,
)
from services.app import projection
from services.domain.book import ScheduleBook
from services.domain.names import name_key

PARTS = ("portfolios", "now", "names", "agreements", "checkpoint")


def _script(name: str) -> str:
    return resources.files("services.adapters.readmodel").joinpath(name).read_text()


def new_generation() -> str:
    return f"g{time.time_ns()}"


class ReadModel(Documents):
    """Reads and writes the read model of one key prefix (sync client; atomic scripts)."""

    def __init__(self, client: redis.Redis, keys: Keys, workers: int = 2) -> None:
        self.client = client
        self.keys = keys
        # Processes that encode and write a new generation's documents.
        self.workers = workers
        self.rm_prefix = keys.read_model("")
        self._apply = client.register_script(_script("apply.lua"))
        self._lookup = client.register_script(_script("lookup.lua"))
        self._swap = client.register_script(_script("swap.lua"))

    def gen_key(self, generation: str, part: str) -> str:
        return f"{self.keys.read_model(generation)}:{part}"

    # ---- reading ------------------------------------------------------------------------

    def current(self) -> str | None:
        raw: Any = self.client.get(self.keys.read_model_pointer)
        return None if raw is None else text(raw)

    def checkpoint(self, generation: str) -> str:
        raw: Any = self.client.get(self.gen_key(generation, "checkpoint"))
        return "" if raw is None else text(raw)

    def _read(self, name_or_id: str, part: str) -> tuple[str, str, str, str]:
        reply: Any = self._lookup(
            keys=[self.keys.read_model_pointer],
            args=[self.rm_prefix, name_or_id, name_key(name_or_id), part],
        )
        gen, pid, doc, checkpoint = (text(v) for v in reply)
        return gen, pid, doc, checkpoint

    # ---- following the log ------------------------------------------------------------------

    def ensure_current(self) -> str:
        """The current generation, creating an empty one on first use."""
        self.client.set(self.keys.read_model_pointer, new_generation(), nx=True)
        gen = self.current()
        assert gen is not None
        return gen

    def _documents(self, generation: str, part: str, ids: list[str]) -> list[str | bytes | None]:
        raw: Any = self.client.hmget(self.gen_key(generation, part), ids) if ids else []
        return list(raw)

    def save(
        self,
        generation: str,
        expected_checkpoint: str,
        checkpoint: str,
        book: ScheduleBook,
        *,
        require_current: bool,
    ) -> bool:
        groups = list(self._written(generation, book).values())  # in apply.lua's order
        reply: Any = self._apply(
            keys=[self.keys.read_model_pointer],
            args=[
                self.rm_prefix,
                generation,
                expected_checkpoint,
                checkpoint,
                "1" if require_current else "0",
                *(len(g) for g in groups),
                *(item for group in groups for pair in group for item in pair),
            ],
        )
        return int(reply) == 1

    def dead_letter(
        self, entry_id: str, fields: dict[bytes, bytes], reason: str, code: DeadLetterCode
    ) -> None:
        """An entry the projector cannot fold, kept on the dead-letter stream."""
        letter = DeadLetter(
            source_stream=self.keys.agreements,
            entry_id=entry_id,
            fields={text(k): text(v)[:4000] for k, v in fields.items()},
            code=code,
            reason=reason,
            consumer="projector",
        )
        self.client.xadd(self.keys.dead_letters, encode(letter))  # type: ignore[arg-type]

    def catch_up(self, until: str = "+", **options: Any) -> int:
        """`projection.catch_up` of this read model and its prefix's log."""
        return projection.catch_up(EventStore(self.client, self.keys), self, until, **options)

    def rebuild(self, *, workers: int | None = None, **options: Any) -> projection.RebuildResult:
        """`projection.rebuild` of this read model from its prefix's log (`workers`: the
        processes that encode and write the new generation's documents)."""
        store = self if workers is None else ReadModel(self.client, self.keys, workers)
        return projection.rebuild(EventStore(self.client, self.keys), store, **options)

    # ---- a new generation ---------------------------------------------------------------

    def create(self, book: ScheduleBook, checkpoint: str) -> str:
        # Invisible until the swap, so plain pipelined writes are safe. The documents are
        # encoded by forked processes, a share of the portfolios each (encoding is most of a
        # rebuild after the fold, and each portfolio's documents are its own).
        gen = new_generation()
        pids = sorted(book.timelines)
        context = multiprocessing.get_context("fork")
        shares = [
            context.Process(target=self._write_share, args=(gen, book, pids[i :: self.workers]))
            for i in range(self.workers)
        ]
        for share in shares:
            share.start()
        names = sorted(name_pairs(book.timelines.values()).items())
        agreements = [(aid, agreement_doc(a)) for aid, a in sorted(book.agreements.items())]
        self._hset(gen, {"names": names, "agreements": agreements})
        for share in shares:
            share.join()
        if any(share.exitcode != 0 for share in shares):
            self.drop(gen)
            raise RuntimeError("a read-model writer failed; nothing was swapped in")
        self.client.set(self.gen_key(gen, "checkpoint"), checkpoint)
        return gen

    def _write_share(self, gen: str, book: ScheduleBook, pids: list[str]) -> None:
        self._hset(gen, portfolio_docs([book.timelines[pid] for pid in pids]))

    def _hset(self, gen: str, parts: dict[str, list[tuple[str, str]]]) -> None:
        """HSETs of 1,000 fields each, the pipeline sent every 10 (its buffer stays small)."""
        pipe = self.client.pipeline(transaction=False)
        for part, pairs in parts.items():
            for i in range(0, len(pairs), 1000):
                pipe.hset(self.gen_key(gen, part), mapping=dict(pairs[i : i + 1000]))
                if len(pipe) >= 10:
                    pipe.execute()
        pipe.execute()

    def swap(self, generation: str, log_end: str) -> tuple[str, str]:
        # The script reads the log's end itself, so no entry can slip in between.
        reply: Any = self._swap(
            keys=[self.keys.read_model_pointer, self.keys.agreements],
            args=[self.rm_prefix, generation],
        )
        status, other = (text(v) for v in reply)
        return status, other

    def drop(self, generation: str) -> None:
        self.client.unlink(*(self.gen_key(generation, p) for p in PARTS))
