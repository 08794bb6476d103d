"""The rebuild's fold: the whole log folded into a new generation, not yet current.

`fold_log` reads the log in pages (the next page fetched while this one is folded), folds it
with the trusted fast path (`TrustedAmendments`) or full validation, and writes each document
once, at the end, with plain pipelined writes (the generation is invisible until the swap).
With more than one worker the log up to its current end is folded by that many forked
processes, one `Partition` of the portfolios each. `ReadModel.rebuild` then catches the new
generation up and swaps it in.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import re
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from services.adapters.readmodel.naming import answer_field, new_generation
from services.adapters.readmodel.projection import Projection, as_str, decode_entries
from services.adapters.readmodel.trusted import OneChange, TrustedAmendments

if TYPE_CHECKING:
    from services.adapters.readmodel.store import ReadModel


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
        """(entry, owned) for each entry this partition folds, in log order. `rows` are raw
        XRANGE replies (fields as a flat list, see `_pages`); the selected come back with their
        fields as a dict, as the rest of the fold reads them."""
        out: list[tuple[tuple[Any, Any], bool]] = []
        append = out.append
        first = self.index == 0
        known, owns = self._owns, self.owns
        for raw_id, flat in rows:
            owned: bool | None  # None: another partition's entry, skipped
            # The service's entries have `data` last (then the last of its name, as in a dict).
            if type(flat) is list and len(flat) == 8 and flat[6] == b"data":
                data = flat[7]
            else:
                data = _fields(flat).get(b"data")
            if data is None or b"\\" in data:
                owned = first
            elif (at := data.find(b'"portfolio_id":"')) >= 0 and data.find(
                b'"portfolio_id"', at + 16
            ) < 0:
                # The commonest entry, one change and the recorder's spacing, by plain `find`s.
                pid = data[at + 16 : data.find(b'"', at + 16)]
                mine = known.get(pid)
                owned = True if mine or (mine is None and owns(pid)) else None
            else:
                pids = _PORTFOLIO_ID.findall(data)
                if not pids or len(pids) != data.count(b'"portfolio_id"'):
                    owned = first
                elif owns(min(pids)):
                    owned = True
                else:
                    owned = False if any(owns(p) for p in pids) else None
            if owned is not None:
                append(((raw_id, _fields(flat)), owned))
        return out


def _fields(flat: Any) -> dict[Any, Any]:
    """An entry's fields as a dict, from XRANGE's flat list (the last of a repeated name wins,
    as in redis-py's own reply parsing)."""
    if type(flat) is dict:
        return flat
    if len(flat) == 8:  # the service's four fields, spelled out: several times faster
        return {flat[0]: flat[1], flat[2]: flat[3], flat[4]: flat[5], flat[6]: flat[7]}
    it = iter(flat)
    return dict(zip(it, it, strict=False))


def fold_log(
    model: ReadModel,
    page: int,
    progress: Callable[[int], None] | None,
    trust_log: bool,
    workers: int,
) -> tuple[str, int]:
    """The whole log folded and written into a new generation: (generation, entries read)."""
    with _no_cyclic_gc():
        if workers > 1:
            return _fold_in_parallel(model, page, progress, trust_log, workers)
        return _fold_into_new_generation(model, page, progress, trust_log)


def _pages(model: ReadModel, page: int, until: str = "+") -> Iterator[list[tuple[Any, Any]]]:
    """The whole log in pages of raw XRANGE replies (entry id, flat field list); the next page
    is read while the caller folds this one (Redis answers on its own core, and a blocking
    socket read releases the GIL)."""
    ahead: list[Any] = []
    # Without redis-py's reply callback, which builds a dict per entry in Python: most entries
    # are skipped by a partition before their fields are ever looked up.
    client = redis.Redis(connection_pool=model.client.connection_pool)
    client.set_response_callback("XRANGE", lambda response, **options: response)

    def fetch(start: str) -> None:
        ahead.append(client.xrange(model.keys.agreements, min=start, max=until, count=page))

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


def _fold_into_new_generation(
    model: ReadModel, page: int, progress: Callable[[int], None] | None, trust_log: bool
) -> tuple[str, int]:
    gen = new_generation()
    projection, count, last = _fold(model, page, progress, trust_log)
    _bulk_write(model, gen, projection, last)
    return gen, count


def _fold(
    model: ReadModel,
    page: int,
    progress: Callable[[int], None] | None,
    trust_log: bool,
    partition: Partition | None = None,
    until: str = "+",
) -> tuple[Projection, int, str]:
    """The whole log (up to `until`) folded in memory: (projection, entries read, last)."""
    projection = Projection(partition=partition)
    trusted = TrustedAmendments()
    apply_one = projection.apply_one
    count = 0
    last = ""
    for rows in _pages(model, page, until):
        if rows:
            last = as_str(rows[-1][0])
            count += len(rows)
        if partition is None:
            selected = [((raw_id, _fields(flat)), True) for raw_id, flat in rows]
        else:
            selected = partition.select(rows)
        entries = [row for row, _ in selected]
        checks = trusted.page(entries) if trust_log else [None] * len(entries)
        for ((raw_id, fields), owned), checked in zip(selected, checks, strict=True):
            projection.owning = owned
            if type(checked) is OneChange:
                apply_one(as_str(raw_id), checked)
            elif checked is not None:
                projection.apply_trusted(as_str(raw_id), *checked)
            else:
                poison = model.dead_letter if owned else None
                for position, message in decode_entries([(raw_id, fields)], poison):
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
    model: ReadModel,
    page: int,
    progress: Callable[[int], None] | None,
    trust_log: bool,
    workers: int,
) -> tuple[str, int]:
    newest: Any = model.client.xrevrange(model.keys.agreements, count=1)
    if not newest:
        return _fold_into_new_generation(model, page, progress, trust_log)
    until = as_str(newest[0][0])
    gen = new_generation()
    # Forked, not spawned: a worker starts in milliseconds with everything imported.
    context = multiprocessing.get_context("fork")
    read = context.Value("q", 0)  # entries partition 0 has read, for the progress bar
    pipes, processes = [], []
    for index in range(workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_fold_partition,
            args=(model, gen, page, trust_log, Partition(index, workers), until, send, read),
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
        model.drop(gen)
        raise RuntimeError(f"rebuild workers did not all reach {until}: {failures or ends}")
    if progress is not None and results[0][1] > reported:
        progress(results[0][1] - reported)
    # Names: as the single-process rebuild writes them, later portfolio ids winning a name.
    names = sorted((pair for r in results for pair in r[3]), key=lambda pair: pair[1])
    pipe = model.client.pipeline(transaction=False)
    named = dict(names)
    items = list(named.items())
    for i in range(0, len(items), 1000):
        pipe.hset(model.gen_key(gen, "names"), mapping=dict(items[i : i + 1000]))
    pipe.set(model.gen_key(gen, "checkpoint"), until)
    pipe.execute()
    return gen, int(results[0][1])


def _fold_partition(
    model: ReadModel,
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
        projection, count, last = _fold(model, page, progress, trust_log, partition, until)
        if partition.index != 0:
            projection.agreements = {}
        _bulk_write(model, gen, projection, None, names=False)
        send.send(("ok", count, last, list(projection.name_pairs())))
    except BaseException as exc:  # reported to the parent, which fails the rebuild
        send.send(("failed", repr(exc)))
    finally:
        send.close()


def _bulk_write(
    model: ReadModel,
    gen: str,
    projection: Projection,
    checkpoint: str | None,
    *,
    names: bool = True,
) -> None:
    # The generation is invisible until the swap, so plain pipelined writes are safe here.
    docs: list[tuple[str, str]] = []
    now: list[tuple[str, str]] = []
    for pid, doc, index, answers in projection.portfolio_entries():
        docs.append((pid, doc))
        now.append((pid, index))
        now.extend(answer_field(pid, numbered) for numbered in enumerate(answers))
    pipe = model.client.pipeline(transaction=False)
    chunk = 1000
    for part, pairs in (
        ("portfolios", docs),
        ("now", now),
        ("names", list(projection.name_pairs()) if names else []),
        ("amendments", list(projection.amendment_pairs())),
        ("agreements", list(projection.agreements.items())),
    ):
        for i in range(0, len(pairs), chunk):
            pipe.hset(model.gen_key(gen, part), mapping=dict(pairs[i : i + chunk]))
            if len(pipe) >= 10:
                pipe.execute()
    if checkpoint is not None:
        pipe.set(model.gen_key(gen, "checkpoint"), checkpoint)
    pipe.execute()
