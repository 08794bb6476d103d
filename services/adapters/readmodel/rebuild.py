"""The rebuild's fold: the whole log folded into a new generation, not yet current.

`fold_log` folds the log up to its current end as the live projector does: every entry decoded
with full validation (`decode_entries`) and folded by `Projection.fold`; an entry that cannot be
read or that the domain rejects is dead-lettered. Each document is written once, at the end,
with plain pipelined writes (the generation is invisible until the swap).

With more than one worker, that many forked processes fold a `Share` of the portfolios each:
every worker reads and decodes every entry, and skips the amendments that name none of its
portfolios (picked by the decoded message, never by the entry's text). The parent then writes
what the shares have in common (names, dead letters, the checkpoint) as one process would.
`ReadModel.rebuild` catches the new generation up and swaps it in.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contracts.messages import AmendmentRecorded, DeadLetterCode
from services.adapters.readmodel.naming import answer_field, new_generation
from services.adapters.readmodel.projection import Decoded, Projection, as_str, decode_entries
from services.domain.timeline import position_key

if TYPE_CHECKING:
    from services.adapters.readmodel.store import ReadModel

# A dead letter in waiting: (entry id, fields, reason, code), as `ReadModel.dead_letter` takes.
Letter = tuple[str, dict[bytes, bytes], str, DeadLetterCode]


@dataclass(frozen=True)
class Share:
    """One of `count` rebuild workers: the portfolios whose id hashes (CRC-32) to `index`."""

    index: int
    count: int

    def owns(self, portfolio_id: str) -> bool:
        return self.count == 1 or zlib.crc32(portfolio_id.encode()) % self.count == self.index

    def entries(self, decoded: Iterable[Decoded]) -> Iterator[Decoded]:
        """The entries this share folds: all but the amendments naming only others' portfolios
        (retractions and registrations go to every share)."""
        for entry in decoded:
            message = entry[2]
            if not isinstance(message, AmendmentRecorded) or any(
                self.owns(c.portfolio_id) for c in message.changes
            ):
                yield entry


@dataclass
class Folded:
    """What a share's worker hands back once it has written its portfolios."""

    count: int
    names: list[tuple[str, str]]
    letters: list[Letter] = field(default_factory=list)


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


def fold_log(
    model: ReadModel, page: int, progress: Callable[[int], None] | None, workers: int
) -> tuple[str, int]:
    """The log up to its current end folded and written into a new generation:
    (generation, entries read)."""
    gen = new_generation()
    newest: Any = model.client.xrevrange(model.keys.agreements, count=1)
    if not newest:
        return gen, 0  # nothing to fold: the generation is empty, its checkpoint none
    until = as_str(newest[0][0])
    if workers > 1:
        results = _fold_in_processes(model, gen, page, progress, workers, until)
    else:
        results = [_fold_share(model, gen, page, progress, Share(0, 1), until)]
    # Names: as one process writes them, the later portfolio id winning a shared name.
    names = dict(sorted((pair for r in results for pair in r.names), key=lambda p: p[1]))
    letters = {letter[0]: letter for r in results for letter in r.letters}
    for entry_id in sorted(letters, key=position_key):
        model.dead_letter(*letters[entry_id])
    pipe = model.client.pipeline(transaction=False)
    _hset_in_chunks(pipe, model.gen_key(gen, "names"), list(names.items()))
    pipe.set(model.gen_key(gen, "checkpoint"), until)
    pipe.execute()
    return gen, results[0].count


def _fold_share(
    model: ReadModel,
    gen: str,
    page: int,
    progress: Callable[[int], None] | None,
    share: Share,
    until: str,
) -> Folded:
    """Fold the log up to `until` for one share and write its portfolios into `gen`."""
    projection = Projection()
    folded = Folded(0, [])

    def poison(
        entry_id: str, fields: dict[bytes, bytes], reason: str, code: DeadLetterCode
    ) -> None:
        folded.letters.append((entry_id, fields, reason, code))

    with _no_cyclic_gc():
        for rows in _pages(model, page, until):
            folded.count += len(rows)
            projection.fold(share.entries(decode_entries(rows, poison)), poison)
            if progress is not None:
                progress(len(rows))
        # Amendments shared with other shares touched their portfolios too: those are theirs.
        for pid in [p for p in projection.portfolios if not share.owns(p)]:
            del projection.portfolios[pid]
        projection.touched = set(projection.portfolios)
        _bulk_write(model, gen, projection)
        folded.names = list(projection.name_pairs())
    return folded


def _pages(model: ReadModel, page: int, until: str) -> Iterator[list[tuple[Any, Any]]]:
    """The log up to `until` in pages of XRANGE replies; the next page is read while the caller
    folds this one (Redis answers on its own core, and a blocking socket read releases the
    GIL)."""
    ahead: list[Any] = []

    def fetch(start: str) -> None:
        ahead.append(model.client.xrange(model.keys.agreements, min=start, max=until, count=page))

    fetch("-")
    while True:
        rows = ahead.pop()
        if len(rows) < page:
            yield rows
            return
        reader = threading.Thread(target=fetch, args=("(" + as_str(rows[-1][0]),))
        reader.start()
        try:
            yield rows
        finally:
            reader.join()


def _fold_in_processes(
    model: ReadModel,
    gen: str,
    page: int,
    progress: Callable[[int], None] | None,
    workers: int,
    until: str,
) -> list[Folded]:
    """`_fold_share` of each share in a forked process of its own; raises (dropping `gen`)
    unless every one of them finished."""
    # Forked, not spawned: a worker starts in milliseconds with everything imported.
    context = multiprocessing.get_context("fork")
    read = context.Value("q", 0)  # entries the first share has read, for the progress bar
    pipes, processes = [], []
    for index in range(workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker,
            args=(model, gen, page, Share(index, workers), until, send, read),
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
        results.append("a rebuild worker exited without a result")
    finally:
        for process in processes:
            process.join()
    failures = [r for r in results if not isinstance(r, Folded)]
    if failures:
        model.drop(gen)
        raise RuntimeError(f"a rebuild worker failed: {failures}")
    if progress is not None and results[0].count > reported:
        progress(results[0].count - reported)
    return results


def _worker(
    model: ReadModel, gen: str, page: int, share: Share, until: str, send: Any, read: Any
) -> None:
    """A forked rebuild worker: its share folded and written; the `Folded` (or what went
    wrong) sent back to the parent."""
    try:

        def counted(n: int) -> None:
            read.value += n

        progress = counted if share.index == 0 else None
        send.send(_fold_share(model, gen, page, progress, share, until))
    except BaseException as exc:  # reported to the parent, which fails the rebuild
        send.send(repr(exc))
    finally:
        send.close()


def _bulk_write(model: ReadModel, gen: str, projection: Projection) -> None:
    """A share's documents, answers, amendment index and agreements (shares that fold the same
    amendment or registration write the same values)."""
    # The generation is invisible until the swap, so plain pipelined writes are safe here.
    docs: list[tuple[str, str]] = []
    now: list[tuple[str, str]] = []
    for pid, doc, index, answers in projection.portfolio_entries():
        docs.append((pid, doc))
        now.append((pid, index))
        now.extend(answer_field(pid, numbered) for numbered in enumerate(answers))
    pipe = model.client.pipeline(transaction=False)
    for part, pairs in (
        ("portfolios", docs),
        ("now", now),
        ("amendments", list(projection.amendment_pairs())),
        ("agreements", list(projection.agreements.items())),
    ):
        _hset_in_chunks(pipe, model.gen_key(gen, part), pairs)
    pipe.execute()


def _hset_in_chunks(pipe: Any, key: str, pairs: list[tuple[str, str]]) -> None:
    """HSETs of 1,000 fields each, the pipeline sent every 10 (its buffer stays small)."""
    for i in range(0, len(pairs), 1000):
        pipe.hset(key, mapping=dict(pairs[i : i + 1000]))
        if len(pipe) >= 10:
            pipe.execute()
