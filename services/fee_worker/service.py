"""The fee worker service: a FastStream consumer group on net assets, settled in atomic batches.

FastStream reads new entries (`>`) in batches and hands them over raw (no ack of its own:
AckPolicy.MANUAL). Per batch the worker brings its in-memory `ScheduleBook` up to date from the
agreements log (adjusting past accruals when the log learned something new), plans the batch
with the pure `Pricer`, and settles it through the ledger port (the handlers of
services.app.settling; in Redis, one Lua step that also XACKs the entries). `GroupRecovery`
does what FastStream does not: on start it takes this consumer's own pending entries and others'
idle ones (XAUTOCLAIM), and it claims again periodically.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, get_args

import redis.asyncio as aioredis
from faststream import AckPolicy, FastStream
from faststream.message import StreamMessage

from contracts.messages import NetAssetsReported
from contracts.wire import encode
from services.adapters.background import Periodic
from services.adapters.connection import async_client, redis_broker, text
from services.adapters.consumer import (
    BatchHandler,
    Delivery,
    GroupRecovery,
    batch_subscription,
    claim_interval,
    deliveries_of,
    plain_fields,
)
from services.adapters.http import http_endpoint
from services.adapters.keys import Keys
from services.adapters.ledger import RedisLedgerStore, claim_partitions
from services.adapters.metrics import ServiceMetrics
from services.app.accruals import gap_counts
from services.app.close import (
    close_month,
    portfolios_to_close,
    read_close_request,
    refusals,
    worker_behind,
)
from services.app.invoices import receive_invoices
from services.app.ledger import SettleResult
from services.app.operations import Ack, Emit, Op, Park, Revise, Unpark, name_parts
from services.app.pricing import (
    AdjustmentReason,
    Incoming,
    Pricer,
    ReadReport,
    read_ahead,
    refusal,
)
from services.app.projection import read_events
from services.app.routing import home_partition, routing_key
from services.app.settling import (
    advance_ledger,
    follow_up,
    price_provisionally,
    settle_entries,
    split_in_context,
)
from services.domain.book import ScheduleBook
from services.domain.timeline import position_key
from services.fee_worker.router import Input, IntakeRouter, forward
from services.settings import Settings

log = logging.getLogger("feeschedule.fee_worker")

# A step refused because another worker moved first is replanned; this bounds the retries.
MAX_ATTEMPTS = 20
# How long a worker adjusting a partition's ledger for late knowledge keeps the others waiting
# should it die (they plan nothing meanwhile, so a recomputation is not done twice).
ADVANCE_LEASE_MS = 120_000
# Entries per atomic step: a batch is settled in parts so Python plans while Redis applies.
PART_SIZE = 125
# Entries planned between two turns of the event loop (see `FeeWorker._plan`).
PLAN_SLICE = 25


class MeteredLedger(RedisLedgerStore):
    """The Redis ledger, counting per step the events and adjustments it wrote."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        metrics: ServiceMetrics,
        elsewhere: Sequence[Keys],
    ) -> None:
        super().__init__(client, keys, Keys.fee_worker_group, elsewhere=elsewhere)
        self.metrics = metrics

    async def settle(
        self, ops: Sequence[Op], expected_checkpoint: str, new_checkpoint: str = ""
    ) -> SettleResult:
        result = await super().settle(ops, expected_checkpoint, new_checkpoint)
        if result.status == "ok":
            # Only accruals and parks can conflict; every other operation is written.
            unapplied = {id(op) for op, _, _ in result.conflicts}
            for op in ops:
                if isinstance(op, Emit) or (isinstance(op, Park) and id(op) not in unapplied):
                    self.metrics.emitted(op.event["type"])
                elif isinstance(op, Revise) and op.event:  # rare: late knowledge, a revision
                    self.metrics.adjusted(json.loads(op.event["data"])["reason"])
        return result


def _not_folded(entry_id: str, fields: Any, reason: str, code: str) -> None:
    # The projector dead-letters it; the worker prices on without it.
    log.warning("agreements log %s not applied (%s): %s", entry_id, code, reason)


class FeeWorker:
    """One partition's worker: schedules in memory, the partition's ledger in Redis, and the
    batch loop that joins them. A process runs one per partition it serves (`build_app`)."""

    def __init__(
        self,
        settings: Settings,
        keys: Keys,
        client: aioredis.Redis,
        metrics: ServiceMetrics,
        advancing: asyncio.Lock,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.client = client
        self.metrics = metrics
        # Held by the partition of this process that is adjusting its ledger for late
        # knowledge: planning is CPU-bound, so one at a time, and the other workers take the
        # other partitions' leases meanwhile.
        self.advancing = advancing
        others = [lane for lane in settings.lanes if lane != keys]
        self.store = MeteredLedger(self.client, self.keys, self.metrics, others)
        self.book = ScheduleBook()
        # Last agreements-log entry applied to the book, and the one the ledger is priced
        # against (kept in Redis, moved only together with the adjustments it implies).
        self.position = ""
        self.checkpoint = ""
        # Each input's recovery, and the handler that settles what it hands over (`_reader`).
        self.recoveries: list[tuple[GroupRecovery, BatchHandler]] = []
        self.pricer = self._reader(keys.net_assets, Keys.fee_worker_group, self.settle)
        # Invoices (matched against the ledger's closed months) and commands (a month's close
        # asked over the bus): each its own stream, group, and store acknowledging its entries.
        self.invoices = RedisLedgerStore(client, keys, Keys.invoice_group, source=keys.invoices)
        self.invoice_pricer = self._reader(keys.invoices, Keys.invoice_group, self.settle_invoices)
        self.commands = RedisLedgerStore(client, keys, Keys.command_group, source=keys.commands)
        self.command_pricer = self._reader(keys.commands, Keys.command_group, self.settle_commands)
        self._lock = asyncio.Lock()
        # The last part of a FastStream batch, still being applied by Redis (see `on_batch`).
        self._inflight: tuple[list[Incoming], asyncio.Task[SettleResult]] | None = None
        # In the background: follow the log while idle, claim abandoned entries, count gaps.
        self.maintenance = Periodic(
            settings.block_ms / 1000, self._maintain, "fee worker maintenance pass"
        )
        self._next_claim = self._next_gaps = self._next_provisional = 0.0

    def _reader(self, stream: str, group: str, settle: BatchHandler) -> Pricer:
        """What reading an input stream takes: a pricer naming it in dead letters, and the
        recovery of its pending entries, handing them to `settle` (added to `recoveries`)."""
        settings = self.settings
        self.recoveries.append((GroupRecovery(self.client, stream, group, settings), settle))
        return Pricer(self.book, stream, settings.consumer, settings.max_deliveries)

    def inputs(self) -> list[Input]:
        """The partition's input streams: each with its group, description and handler."""
        return [
            (
                self.keys.net_assets,
                Keys.fee_worker_group,
                "NetAssetsReported in; FeeAccrued, FeeAdjusted and DeadLetter out.",
                self.on_batch,
            ),
            (
                self.keys.invoices,
                Keys.invoice_group,
                "InvoiceReceived in; InvoiceMatched or InvoiceBreak out once its month closes.",
                partial(self.on_plain, self.settle_invoices),
            ),
            (
                self.keys.commands,
                Keys.command_group,
                "CloseMonthRequested in; FeeTrueUp, PeriodClosed or MonthCloseRefused out.",
                partial(self.on_plain, self.settle_commands),
            ),
        ]

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Before FastStream follows new entries: catch up with the log, then recover."""
        self.checkpoint = await self.store.checkpoint()
        async with self._lock:
            await self._catch_up()
        recovered = sum([await recovery.recover(handle) for recovery, handle in self.recoveries])
        # Recovered just now: the next claim is one interval away.
        self._next_claim = asyncio.get_running_loop().time() + claim_interval(self.settings)
        log.info(
            "fee worker %s ready%s: log at %s, %d pending entries recovered",
            self.settings.consumer,
            "" if self.keys.partition is None else f" on partition {self.keys.partition}",
            self.position or "(empty)",
            recovered,
        )

    async def close(self) -> None:
        # After the broker has stopped: no batch can leave another part in flight.
        async with self._lock:
            await self._drain()

    # ---- batches -------------------------------------------------------------------------

    async def on_batch(self, raw: Mapping[str, Any]) -> None:
        """A batch as FastStream read it: entry ids and their raw fields.

        A full batch says more entries wait: its last part is left in flight, so FastStream
        reads the next batch, and the worker plans that batch's first part, while Redis applies
        it. Its outcome (a conflict, rarely) is taken up before the next part goes out (or by
        `_drain`, should no batch follow). A short batch is settled to the end at once, so an
        idle stream never waits on an outcome. Safe at any moment: a part's effects and its
        XACK are one atomic step.
        """
        deliveries = deliveries_of(raw)
        async with self._batch(len(deliveries)):
            await self._settle(deliveries)
            if len(deliveries) < self.settings.batch_size:
                await self._drain()

    async def settle(self, deliveries: Sequence[Delivery]) -> None:
        """Price and settle entries: every entry ends acked (accrued, parked or dead-lettered)
        by the time this returns."""
        async with self._batch(len(deliveries)):
            await self._settle(deliveries)
            await self._drain()

    async def on_plain(self, settle: BatchHandler, raw: Mapping[str, Any]) -> None:
        """A batch of invoices or commands as FastStream read it, handed to `settle` (whose
        `_own` reads FastStream's envelope)."""
        await settle(deliveries_of(raw))

    async def settle_invoices(self, deliveries: Sequence[Delivery]) -> None:
        """Match invoices against their closed months, or keep them for the close."""
        async with self._lock:
            entries = await self._own(deliveries, "invoices", Keys.invoice_group)
            args = (self.book, self.invoices, self.invoice_pricer, entries)
            await self._until_settled(
                lambda: receive_invoices(*args, self.checkpoint), f"{len(entries)} invoices"
            )

    async def settle_commands(self, deliveries: Sequence[Delivery]) -> None:
        """Carry out each command in turn (a month's close, as `feeschedule close` does it)."""
        async with self._lock:
            for delivery in await self._own(deliveries, "commands", Keys.command_group):
                await self._settle_command(delivery)

    async def _settle_command(self, delivery: Incoming) -> None:
        # A close is its own step per portfolio (a second one changes nothing), so a command
        # whose answer did not go through is carried out again.
        async def step() -> SettleResult:
            await self._drain()
            return await self.commands.settle(await self._command(delivery), self.checkpoint)

        await self._until_settled(step, f"command {delivery.entry_id}")

    async def _until_settled(self, step: Callable[[], Awaitable[SettleResult]], what: str) -> None:
        """Take `step` on the log as it stands until it goes through (a moved checkpoint: again
        on the new one)."""
        for _ in range(MAX_ATTEMPTS):
            await self._catch_up()
            if self._take_up(await step()).status == "ok":
                return
        raise RuntimeError(f"could not settle {what} in {MAX_ATTEMPTS} attempts")

    def _take_up(self, result: SettleResult) -> SettleResult:
        """A step's answer, once the worker has taken it up: a stale one names the checkpoint
        the ledger is priced against now, which the next step expects."""
        if result.status == "stale":
            self.checkpoint = result.detail
        return result

    async def _command(self, delivery: Incoming) -> list[Op]:
        """The close a command asks for, done; and the step that answers and acknowledges it."""
        if not delivery.fields:
            return [Ack(delivery.entry_id)]
        try:
            request = read_close_request(delivery.fields)
            pids = portfolios_to_close(
                self.book,
                await self.commands.ledger_portfolios(),
                request.month,
                request.agreement_id,
                request.portfolio_id,
                self.keys.partition,
                self.settings.partitions,
            )
        except Exception as exc:
            return [self.command_pricer.reject(delivery, *refusal(exc))]
        behind = worker_behind(self.position, self.checkpoint, await self.store.unsettled())
        outcomes = await close_month(
            self.book,
            self.commands,
            pids,
            request.month,
            checkpoint=self.checkpoint,
            behind=behind,
            force=request.force,
        )
        return [*refusals(request, outcomes), Ack(delivery.entry_id)]

    @asynccontextmanager
    async def _batch(self, size: int) -> AsyncIterator[None]:
        """The worker's lock, held for one batch; the batch timed."""
        started = time.perf_counter()
        async with self._lock:
            yield
        self.metrics.batch_done(size, time.perf_counter() - started)

    async def _settle(self, deliveries: Sequence[Delivery]) -> None:
        """Settle a batch in parts, planning each part while Redis applies the previous one.

        Each part is its own atomic step; a part that meets a conflict or a moved checkpoint
        is settled again, carefully, once the others are done.
        """
        batch = await self._own(deliveries, "net_assets", Keys.fee_worker_group)
        leftovers: list[Incoming] = []
        for start in range(0, len(batch), PART_SIZE):
            part = batch[start : start + PART_SIZE]
            planned, later = split_in_context(self.pricer, part, await self._plan(part))
            part, ops = [e for e, _ in planned], [op for _, op in planned]
            leftovers += await self._finish()
            leftovers += [e for e, _ in later]
            task = asyncio.create_task(self.store.settle(ops, self.checkpoint))
            await asyncio.sleep(0)  # let the step go out before planning the next part
            self._inflight = (part, task)
        if leftovers:
            await self._drain()
            await self._settle_carefully(leftovers)

    async def _own(self, entries: Sequence[Delivery], stream: str, group: str) -> list[Incoming]:
        """The entries this partition settles (FastStream's envelope read as plain wire fields,
        whether read live or recovered), on the log as it stands (the book decides which
        are its own). With several partitions, entries that settle in another partition (a
        group member's day, or an entry sent to the wrong stream) are forwarded there, then
        acknowledged here (at least once: the partition they reach settles a repeated one
        once); the rest are returned."""
        batch: list[Incoming] = [
            d if b"__data__" not in d.fields else _unwrapped(d) for d in entries
        ]
        if stream == "net_assets":
            # Every report read once, here, as the batch arrives: its partition is found by it,
            # and planning takes it as read. Read at planning instead, one worker spent 9-25%
            # more CPU a report (one partition, 100,000 reports, five pairs of runs; 2026-12-04).
            batch = [read_ahead(d) for d in batch]
        await self._catch_up()
        if self.keys.partition is None:
            return batch
        own, partitions = int(self.keys.partition), self.settings.partitions
        mine: list[Incoming] = []
        sends: list[tuple[str, Mapping[bytes, bytes]]] = []
        ids: list[str] = []
        for entry in batch:
            key = _routing_key(entry)
            home = own if key is None else home_partition(self.book, *key, partitions)
            if home == own:
                mine.append(entry)
            else:
                sends.append((getattr(self.keys.lane(home), stream), entry.fields))
                ids.append(entry.entry_id)
        await forward(self.client, sends, getattr(self.keys, stream), group, ids)
        return mine

    async def _plan(self, part: list[Incoming]) -> list[Op]:
        """`Pricer.plan_batch` in slices, yielding to the event loop between them: the step in
        flight is a large request, and the loop writes what the socket did not take at once
        only when it gets control, so Redis would otherwise wait for the whole plan."""
        ops: list[Op] = []
        for start in range(0, len(part), PLAN_SLICE):
            ops += self.pricer.plan_batch(part[start : start + PLAN_SLICE])
            await asyncio.sleep(0)
        return ops

    async def _finish(self) -> list[Incoming]:
        """The entries of the part in flight still to settle, once its step has answered."""
        if self._inflight is None:
            return []
        (part, task), self._inflight = self._inflight, None
        settled = await follow_up(self.pricer, self.store, part, await task, self.checkpoint)
        self._take_up(settled.result)
        return settled.unsettled

    async def _drain(self) -> None:
        """Take up the outcome of the part still in flight (see `on_batch`)."""
        if leftovers := await self._finish():
            await self._settle_carefully(leftovers)

    async def _settle_carefully(self, pending: Sequence[Incoming]) -> None:
        """Settle entries one step at a time until every one is settled.

        A ledger that cannot be written (in Redis: a key that is not a hash) is its own
        portfolio's problem: that portfolio's entries are dead-lettered and the others settle.
        """
        refused: dict[str, str] = {}
        for _ in range(MAX_ATTEMPTS):
            await self._catch_up()
            settled = await settle_entries(
                self.pricer, self.store, pending, self.checkpoint, refused
            )
            if not settled.unsettled:
                return
            if self._take_up(settled.result).status == "refused":
                refused[settled.result.portfolio_id] = settled.result.detail
            pending = settled.unsettled
        raise RuntimeError(f"could not settle {len(pending)} entries in {MAX_ATTEMPTS} attempts")

    # ---- the agreements log --------------------------------------------------------------

    async def _read_log(self) -> int:
        """Fold the log entries recorded since `position` into the book, as the projector
        folds them (an entry it cannot fold is skipped, with a warning)."""
        read = 0
        while True:
            start = "(" + self.position if self.position else "-"
            rows: Any = await self.client.xrange(self.keys.agreements, min=start, count=1000)
            if not rows:
                return read
            entries = [(text(entry_id), fields) for entry_id, fields in rows]
            for event in read_events(entries, _not_folded):
                self.book.apply(event)
            self.position = entries[-1][0]
            read += len(entries)

    async def _catch_up(self) -> None:
        """Apply new log entries; if the ledger was priced on less, adjust it (atomically)."""
        if await self._read_log() and self.keys.partition is not None:
            await self._forward_parked()
        unwritable: set[str] = set()
        attempts = 0
        while attempts < MAX_ATTEMPTS:
            if self.position == self.checkpoint:
                return
            if position_key(self.checkpoint or "0-0") > position_key(self.position or "0-0"):
                # Another worker has seen a newer log entry than we have: read on.
                if not await self._read_log():
                    await asyncio.sleep(0.01)
                attempts += 1
                continue
            since = self.checkpoint
            async with self.advancing:
                advanced = await self._advance(since, unwritable)
            if advanced is None:
                # Another worker is adjusting this ledger, or has just done so: read on.
                await asyncio.sleep(0.05)
                self.checkpoint = await self.store.checkpoint()
                continue
            result, changed = advanced
            attempts += 1
            if result.status == "ok":
                log.info(
                    "agreements log %s -> %s: %d ledger entries adjusted or priced",
                    since or "(start)",
                    self.position,
                    changed,
                )
                self.checkpoint = self.position
                return
            if self._take_up(result).status == "refused":
                # One portfolio's broken ledger key must not stop pricing the others.
                log.warning("%s: its parked reports wait", result.detail)
                unwritable.add(result.portfolio_id)
        raise RuntimeError(f"could not price against log position {self.position}")

    async def _advance(self, since: str, unwritable: set[str]) -> tuple[SettleResult, int] | None:
        """`advance_ledger` under this ledger's lease; None when another worker holds it, or
        moved the checkpoint while this one waited (nothing planned then)."""
        if not await self.store.take_lease(self.settings.consumer, ADVANCE_LEASE_MS):
            return None
        try:
            if await self.store.checkpoint() != since:
                return None
            return await advance_ledger(self.pricer, self.store, since, self.position, unwritable)
        finally:
            await self.store.drop_lease(self.settings.consumer)

    async def _forward_parked(self) -> None:
        """Reports parked here whose day the log now settles in another partition (it put their
        portfolio in a group, or took it out of one) go there: re-sent, then dropped here."""
        assert self.keys.partition is not None
        own, partitions = int(self.keys.partition), self.settings.partitions
        away: list[tuple[str, str, int]] = []
        for name, value in (await self.store.read_unpriced()).items():
            pid, day = name_parts(name)
            if (home := home_partition(self.book, pid, day, partitions)) != own:
                away.append((name, value, home))
        if not away:
            return
        reports = [(home, NetAssetsReported.model_validate_json(value)) for _, value, home in away]
        sends = [(self.keys.lane(home).net_assets, encode(report)) for home, report in reports]
        await forward(self.client, sends, self.keys.net_assets, Keys.fee_worker_group, [])
        await self.store.settle([Unpark(name, value) for name, value, _ in away], self.checkpoint)
        log.info("%d parked reports forwarded to the partition that now settles them", len(away))

    async def _price_provisionally(self) -> None:
        """Group days that waited `group_wait_ms` for a member's report: priced on the rest."""
        wait = timedelta(milliseconds=self.settings.group_wait_ms)

        def due(report: NetAssetsReported) -> bool:
            return datetime.now(UTC) - report.occurred_at >= wait

        result, written = await price_provisionally(self.pricer, self.store, self.checkpoint, due)
        if self._take_up(result).status != "stale" and written:
            log.info("%d group accruals priced provisionally", written)

    # ---- background: follow the log while idle, claim abandoned entries --------------------

    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            await self._drain()
            await self._catch_up()
            if self.settings.group_wait_ms and loop.time() >= self._next_provisional:
                started = loop.time()
                await self._price_provisionally()
                every = self.settings.group_wait_ms / 1000 * PROVISIONAL_CHECK_SHARE
                self._next_provisional = next_run(started, every, loop.time() - started)
        now = loop.time()
        if now >= self._next_claim:
            # Every input's: a dead consumer's invoices and commands too, not only its reports.
            claimed = sum([await r.claim_all_idle(handle) for r, handle in self.recoveries])
            if claimed:
                log.info("claimed %d idle entries of other consumers", claimed)
            self._next_claim = now + claim_interval(self.settings)
        if now >= self._next_gaps:
            started = loop.time()  # after any claiming: the count's own time
            self.metrics.accrual_gaps(gap_counts(await self.store.covered_days()))
            took = loop.time() - started
            self._next_gaps = next_run(started, self.settings.gap_refresh_ms / 1000, took)


# Counting gaps reads every day of every ledger of the partition, and looking for group days
# due reads every parked report: on a long history or a large parked set each may take at most
# this share of the time from one run to the next, however short its interval is (a share for
# each partition the process serves).
BACKGROUND_SHARE = 0.05
# Group days due are looked for every tenth of `group_wait_ms` (not on every idle pass, each
# `block_ms`): a day is priced provisionally between the wait and 1.1 times it.
PROVISIONAL_CHECK_SHARE = 0.1


def next_run(now: float, every_s: float, took_s: float) -> float:
    """When to run a background task again (counting the gaps, looking for group days due),
    its last run having started at `now` and taken `took_s`: `every_s` later, or later still
    when the run took more than BACKGROUND_SHARE of that."""
    return now + max(every_s, took_s / BACKGROUND_SHARE)


def _routing_key(entry: Incoming) -> tuple[str, str] | None:
    """The portfolio and day an entry is about (None: settled where it is): a report's as
    read, else what its fields say."""
    if isinstance(entry, ReadReport):
        return entry.report.portfolio_id, entry.report.as_of.isoformat()
    return routing_key(entry.fields) if entry.fields else None


def _unwrapped(delivery: Delivery) -> Delivery:
    """An entry FastStream published, its fields as plain wire fields."""
    return Delivery(delivery.entry_id, plain_fields(delivery.fields), delivery.deliveries)


async def _raw_batch(message: Any) -> StreamMessage[Any]:
    # The handler needs entry ids and raw fields (bad entries included), not decoded bodies.
    return StreamMessage(raw_message=message, body=message)


async def _raw_body(message: StreamMessage[Any]) -> Any:
    return message.body


def _subscribe(broker: Any, settings: Settings, source: Input) -> None:
    stream, group, description, handle = source

    # A function of its own per subscriber: FastStream reads the handler's signature.
    async def handler(batch: Any) -> None:
        await handle(batch)

    broker.subscriber(
        stream=batch_subscription(stream, group, settings),
        ack_policy=AckPolicy.MANUAL,
        parser=_raw_batch,
        decoder=_raw_body,
        title=f"{group}:{stream}" if settings.partitions > 1 else group,
        description=description,
    )(handler)


def build_app(settings: Settings) -> FastStream:
    """The fee worker as a FastStream app: per partition, a consumer-group batch subscriber per
    input stream (net assets, invoices, commands); with several partitions, also the router of
    what was sent to the unpartitioned streams."""
    client = async_client(settings)
    broker = redis_broker(settings)
    metrics = ServiceMetrics("fee-worker", settings.keys.net_assets)
    for reason in get_args(AdjustmentReason):
        metrics.adjusted(reason, 0)  # every reason's series exists from the start
    # A worker per partition, sharing one connection, one set of metrics and one lock.
    advancing = asyncio.Lock()
    lanes = [FeeWorker(settings, keys, client, metrics, advancing) for keys in settings.lanes]
    routers = [IntakeRouter(client, settings)] if settings.partitions > 1 else []
    # Each consumes its input streams and runs a background pass beside the broker.
    consumers: list[FeeWorker | IntakeRouter] = [*lanes, *routers]
    for consumer in consumers:
        for source in consumer.inputs():
            _subscribe(broker, settings, source)

    async def start() -> None:
        await claim_partitions(client, settings.keys, settings.partitions)
        for consumer in consumers:
            await consumer.start()
        _keep_out_of_collections()

    async def after_startup() -> None:
        for consumer in consumers:
            consumer.maintenance.start()

    async def stop() -> None:
        await asyncio.gather(*(consumer.maintenance.stop() for consumer in consumers))

    async def close() -> None:
        for lane in lanes:
            await lane.close()
        await client.aclose()

    return FastStream(
        broker,
        on_startup=[start],
        after_startup=[after_startup],
        on_shutdown=[stop],
        after_shutdown=[close],
    )


# Allocations between two collections of the youngest generation. A batch makes some hundred
# thousand short-lived objects, freed by reference counting; collecting every 700 only walks
# them again.
GC_THRESHOLD = (50_000, 20, 20)


def _keep_out_of_collections() -> None:
    """The book and the rest that a started worker holds are moved out of the collector's
    generations (they live as long as the process; reference counting still frees them), and
    the youngest generation is collected less often. Planning costs ~7% less."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


async def run_fee_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Run the fee worker until `stop` is set."""
    app = build_app(settings)
    # The net-asset streams and group whose lag /metrics shows.
    groups = [(keys.net_assets, Keys.fee_worker_group) for keys in settings.lanes]
    async with http_endpoint(settings, "fee-worker", groups), app:
        await stop.wait()
