"""The fee worker service: a FastStream consumer group on net assets, settled in atomic batches.

FastStream reads new entries (`>`) in batches and hands them over raw (no ack of its own:
AckPolicy.MANUAL). Per batch the worker brings its in-memory `ScheduleBook` up to date from the
agreements log (adjusting past accruals when the log learned something new), plans the batch
with the pure `Pricer`, and settles it with one Lua step that also XACKs it. `GroupRecovery`
does what FastStream does not: on start it takes this consumer's own pending entries and others'
idle ones (XAUTOCLAIM), and it claims again periodically.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from faststream import AckPolicy, FastStream
from faststream.message import StreamMessage
from faststream.redis import StreamSub
from faststream.redis.parser.binary import BinaryMessageFormatV1

from services.adapters.connection import async_client, redis_broker
from services.adapters.consumer import Delivery, GroupRecovery, ensure_group
from services.adapters.keys import Keys
from services.adapters.log import aread_log
from services.domain.book import ScheduleBook
from services.domain.errors import DomainError
from services.domain.timeline import position_key
from services.fee_worker.ledger import LedgerStore, SettleResult
from services.fee_worker.pricing import Accrue, AdjustmentReason, Emit, Op, Park, Pricer, Revise
from services.mapping import apply_to_book
from services.ops.http import http_endpoint
from services.ops.metrics import ServiceMetrics
from services.settings import Settings

log = logging.getLogger("feeschedule.fee_worker")

# A step refused because another worker moved first is replanned; this bounds the retries.
MAX_ATTEMPTS = 20
# Entries per atomic step: a batch is settled in parts so Python plans while Redis applies.
PART_SIZE = 125
# Entries planned between two turns of the event loop (see `FeeWorker._plan`).
PLAN_SLICE = 25


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def plain_fields(fields: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """FastStream's own envelope (`__data__`, binary or legacy JSON) as plain wire fields."""
    envelope = fields.get(b"__data__")
    if envelope is None or b"data" in fields:
        return dict(fields)
    body, _headers = BinaryMessageFormatV1.parse(envelope)
    return {b"data": body}


class FeeWorker:
    """Schedules in memory, the ledger in Redis, and the batch loop that joins them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = settings.keys
        self.client = async_client(settings)
        self.store = LedgerStore(self.client, self.keys, Keys.fee_worker_group)
        self.book = ScheduleBook()
        # Last agreements-log entry applied to the book, and the one the ledger is priced
        # against (kept in Redis, moved only together with the adjustments it implies).
        self.position = ""
        self.checkpoint = ""
        self.pricer = Pricer(
            self.book, self.keys.net_assets, settings.consumer, settings.max_deliveries
        )
        self.recovery = GroupRecovery(
            self.client,
            self.keys.net_assets,
            Keys.fee_worker_group,
            settings.consumer,
            batch_size=settings.batch_size,
            claim_idle_ms=settings.claim_idle_ms,
        )
        self.metrics = ServiceMetrics("fee-worker", self.keys.net_assets)
        for reason in get_args(AdjustmentReason):
            self.metrics.adjusted(reason, 0)  # every reason's series exists from the start
        self._lock = asyncio.Lock()
        # The last part of a FastStream batch, still being applied by Redis (see `on_batch`).
        self._inflight: tuple[list[Delivery], asyncio.Task[SettleResult]] | None = None
        self._stopping = asyncio.Event()
        self._maintenance: asyncio.Task[None] | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Before FastStream follows new entries: catch up with the log, then recover."""
        await ensure_group(self.client, self.keys.net_assets, Keys.fee_worker_group)
        self.checkpoint = await self.store.checkpoint()
        async with self._lock:
            await self._catch_up()
        recovered = await self.recovery.recover(self.settle)
        log.info(
            "fee worker %s ready: log at %s, %d pending entries recovered",
            self.settings.consumer,
            self.position or "(empty)",
            recovered,
        )

    async def start_maintenance(self) -> None:
        self._maintenance = asyncio.create_task(self._maintain())

    async def stop(self) -> None:
        self._stopping.set()
        if self._maintenance is not None:
            await self._maintenance

    async def close(self) -> None:
        # After the broker has stopped: no batch can leave another part in flight.
        async with self._lock:
            await self._drain()
        await self.client.aclose()

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
        deliveries = [
            Delivery(_text(entry_id), fields)
            for entry_id, fields in zip(raw["message_ids"], raw["data"], strict=True)
        ]
        full = len(deliveries) >= self.settings.batch_size
        await self.settle(deliveries, leave_last_in_flight=full)

    async def settle(
        self, deliveries: Sequence[Delivery], *, leave_last_in_flight: bool = False
    ) -> None:
        """Price and settle entries; every entry ends acked (accrued, parked or dead-lettered),
        by the time this returns unless `leave_last_in_flight`."""
        started = time.perf_counter()
        batch = [
            Delivery(d.entry_id, plain_fields(d.fields), d.deliveries) if d.fields else d
            for d in deliveries
        ]
        async with self._lock:
            await self._settle(batch)
            if not leave_last_in_flight:
                await self._drain()
        self.metrics.batch_done(len(batch), time.perf_counter() - started)

    async def _apply(
        self, ops: Sequence[Op], expected_checkpoint: str, new_checkpoint: str = ""
    ) -> SettleResult:
        """One atomic settle step; counts the dead letters and adjustments it wrote."""
        result = await self.store.settle(ops, expected_checkpoint, new_checkpoint)
        if result.status == "ok":
            # Only accruals and parks can conflict; every other operation is written.
            unapplied = {id(op) for op, _, _ in result.conflicts}
            for op in ops:
                if isinstance(op, Emit) or (isinstance(op, Park) and id(op) not in unapplied):
                    self.metrics.emitted(op.event["type"])
                elif isinstance(op, Revise):  # rare: late knowledge or a revised report
                    self.metrics.adjusted(json.loads(op.event["data"])["reason"])
        return result

    async def _settle(self, batch: list[Delivery]) -> None:
        """Settle a batch in parts, planning each part while Redis applies the previous one.

        Each part is its own atomic step; a part that meets a conflict or a moved checkpoint
        is settled again, carefully, once the others are done.
        """
        await self._catch_up()
        leftovers: list[Delivery] = []
        for start in range(0, len(batch), PART_SIZE):
            part = batch[start : start + PART_SIZE]
            ops = await self._plan(part)
            if self._inflight is not None:
                leftovers += await self._finish(*self._inflight)
                self._inflight = None
            task = asyncio.create_task(self._apply(ops, self.checkpoint))
            await asyncio.sleep(0)  # let the step go out before planning the next part
            self._inflight = (part, task)
        if leftovers:
            await self._drain()
            await self._settle_carefully(leftovers)

    async def _plan(self, part: list[Delivery]) -> list[Op]:
        """`Pricer.plan_batch` in slices, yielding to the event loop between them: the step in
        flight is a large request, and the loop writes what the socket did not take at once
        only when it gets control, so Redis would otherwise wait for the whole plan."""
        ops: list[Op] = []
        for start in range(0, len(part), PLAN_SLICE):
            ops += self.pricer.plan_batch(part[start : start + PLAN_SLICE])
            await asyncio.sleep(0)
        return ops

    async def _drain(self) -> None:
        """Take up the outcome of the part still in flight (see `on_batch`)."""
        if self._inflight is None:
            return
        inflight, self._inflight = self._inflight, None
        leftovers = await self._finish(*inflight)
        if leftovers:
            await self._settle_carefully(leftovers)

    async def _finish(
        self, part: list[Delivery], task: asyncio.Task[SettleResult]
    ) -> list[Delivery]:
        """The entries of a part still to settle once its step has answered."""
        result = await task
        if result.status == "ok" and not result.conflicts:
            return []
        if result.status != "ok":
            if result.status == "stale":
                self.checkpoint = result.detail
            return part
        followup = self.pricer.resolve(result.conflicts)
        second = await self._apply(followup, self.checkpoint)
        if second.status == "ok" and not second.conflicts:
            return []
        if second.status == "stale":
            self.checkpoint = second.detail
        waiting = {op.ack for op, _, _ in result.conflicts}
        return [d for d in part if d.entry_id in waiting]

    async def _settle_carefully(self, pending: list[Delivery]) -> None:
        """Settle entries one step at a time until every one is settled.

        A ledger key that cannot hold a ledger (not a hash) is the entries of that portfolio's
        own problem: they are dead-lettered and the others settle.
        """
        refused: dict[str, str] = {}
        for _ in range(MAX_ATTEMPTS):
            await self._catch_up()
            ops = self._plan_refusing(pending, refused)
            first = await self._apply(ops, self.checkpoint)
            if first.status == "ok" and not first.conflicts:
                return
            if first.status != "ok":
                self._take_up(first, ops, refused)
                continue
            # Dates that already hold a report: the higher revision wins, the rest are ignored.
            second = await self._apply(self.pricer.resolve(first.conflicts), self.checkpoint)
            if second.status == "ok" and not second.conflicts:
                return
            self._take_up(second, ops, refused)
            waiting = {op.ack for op, _, _ in first.conflicts}
            pending = [d for d in pending if d.entry_id in waiting]
        raise RuntimeError(f"could not settle {len(pending)} entries in {MAX_ATTEMPTS} attempts")

    def _plan_refusing(self, pending: list[Delivery], refused: Mapping[str, str]) -> list[Op]:
        good = [d for d in pending if d.entry_id not in refused]
        bad = [d for d in pending if d.entry_id in refused]
        ops = self.pricer.plan_batch(good)
        return ops + [self.pricer.reject(d, "settle_failed", refused[d.entry_id]) for d in bad]

    def _take_up(self, result: SettleResult, ops: Sequence[Op], refused: dict[str, str]) -> None:
        """What a step that wrote nothing says for the next try."""
        if result.status == "stale":
            self.checkpoint = result.detail
        elif result.status == "refused":
            key, kind = result.detail.rsplit(" ", 1)
            reason = f"ledger: the key {key!r} holds a {kind}, not a ledger hash; fix or delete it"
            for op in ops:
                if (
                    isinstance(op, Accrue | Park | Revise)
                    and op.ack
                    and self.keys.ledger(op.portfolio_id) == key
                ):
                    refused[op.ack] = reason

    # ---- the agreements log --------------------------------------------------------------

    async def _read_log(self) -> int:
        read = 0
        async for position, message in aread_log(
            self.client, self.keys.agreements, after=self.position or None
        ):
            try:
                apply_to_book(self.book, message, position)
            except DomainError as exc:
                log.warning("agreements log %s not applied: %s", position, exc)
            self.position = position
            read += 1
        return read

    async def _catch_up(self) -> None:
        """Apply new log entries; if the ledger was priced on less, adjust it (atomically)."""
        await self._read_log()
        for _ in range(MAX_ATTEMPTS):
            if self.position == self.checkpoint:
                return
            if position_key(self.checkpoint or "0-0") > position_key(self.position or "0-0"):
                # Another worker has seen a newer log entry than we have: read on.
                if not await self._read_log():
                    await asyncio.sleep(0.01)
                continue
            since = self.checkpoint or None
            affected = self.pricer.affected(since)
            ledgers = await self.store.read_ledgers(affected)
            unpriced = await self.store.read_unpriced()
            ops = self.pricer.plan_advance(affected, ledgers, unpriced)
            result = await self._apply(ops, self.checkpoint, self.position)
            if result.status == "ok":
                changed = sum(1 for op in ops if isinstance(op, Revise | Accrue))
                log.info(
                    "agreements log %s -> %s: %d ledger entries adjusted or priced",
                    since or "(start)",
                    self.position,
                    changed,
                )
                self.checkpoint = self.position
                return
            if result.status == "stale":
                self.checkpoint = result.detail
        raise RuntimeError(f"could not price against log position {self.position}")

    # ---- background: follow the log while idle, claim abandoned entries --------------------

    async def _claim_idle(self) -> int:
        claimed_total = 0
        cursor = "0-0"
        while True:
            cursor, claimed = await self.recovery.claim_idle(cursor)
            if claimed:
                await self.settle(claimed)
                claimed_total += len(claimed)
            if cursor == "0-0":
                return claimed_total

    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        poll = self.settings.block_ms / 1000
        claim_every = min(max(self.settings.claim_idle_ms / 2000, 0.2), 30.0)
        next_claim = loop.time() + claim_every
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), poll)
                return
            except TimeoutError:
                pass
            try:
                async with self._lock:
                    await self._drain()
                    await self._catch_up()
                if loop.time() >= next_claim:
                    claimed = await self._claim_idle()
                    if claimed:
                        log.info("claimed %d idle entries of other consumers", claimed)
                    next_claim = loop.time() + claim_every
            except Exception:
                log.exception("fee worker maintenance pass failed; retrying")


async def _raw_batch(message: Any) -> StreamMessage[Any]:
    # The handler needs entry ids and raw fields (bad entries included), not decoded bodies.
    return StreamMessage(raw_message=message, body=message)


async def _raw_body(message: StreamMessage[Any]) -> Any:
    return message.body


def build_app(settings: Settings) -> FastStream:
    """The fee worker as a FastStream app (one consumer-group batch subscriber)."""
    worker = FeeWorker(settings)
    broker = redis_broker(settings)
    subscription = StreamSub(
        settings.keys.net_assets,
        group=Keys.fee_worker_group,
        consumer=settings.consumer,
        batch=True,
        max_records=settings.batch_size,
        polling_interval=settings.block_ms,
    )

    @broker.subscriber(  # type: ignore[untyped-decorator, unused-ignore]
        stream=subscription,
        ack_policy=AckPolicy.MANUAL,
        parser=_raw_batch,
        decoder=_raw_body,
        title="fee-worker",
        description="NetAssetsReported in; FeeAccrued, FeeAdjusted and DeadLetter out.",
    )
    async def net_assets_reported(batch: Any) -> None:
        await worker.on_batch(batch)

    return FastStream(
        broker,
        on_startup=[worker.start],
        after_startup=[worker.start_maintenance],
        on_shutdown=[worker.stop],
        after_shutdown=[worker.close],
    )


async def run_fee_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Run the fee worker until `stop` is set."""
    app = build_app(settings)
    groups = [(settings.keys.net_assets, Keys.fee_worker_group)]
    async with http_endpoint(settings, "fee-worker", groups), app:
        await stop.wait()
