"""The projector service: a FastStream consumer group on the agreements log feeding the read model.

Log order matters for a read model, so a delivery is a trigger, not a unit of work: the
projector applies every entry from the read model's checkpoint up to the delivered one, in log
order, each batch written atomically with its checkpoint, and only then acknowledges. A
redelivered or replayed entry is at or before the checkpoint and changes nothing.

FastStream reads only new entries (`>`), so before its subscriber starts the projector settles
its own pending entries and claims idle ones of dead consumers (`GroupRecovery`), and keeps
claiming periodically while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from faststream import FastStream
from faststream.redis.annotations import RedisBatchStreamMessage

from contracts.messages import DeadLetterCode
from services.adapters.background import Periodic
from services.adapters.connection import async_client, redis_broker, sync_client, text
from services.adapters.consumer import Delivery, GroupRecovery, batch_subscription, claim_interval
from services.adapters.http import http_endpoint
from services.adapters.metrics import ServiceMetrics
from services.adapters.readmodel import ReadModel
from services.domain.timeline import position_key
from services.settings import Settings

log = logging.getLogger("feeschedule.projector")


class Projector:
    """Keeps the read model at the log's pace; shared by the subscriber and the recovery."""

    def __init__(self, settings: Settings) -> None:
        keys = settings.keys
        self.read_model = ReadModel(sync_client(settings), keys)
        self.metrics = ServiceMetrics("projector", keys.agreements)
        self.client = async_client(settings)
        self.recovery = GroupRecovery(self.client, keys.agreements, keys.projector_group, settings)
        self._claimer = Periodic(claim_interval(settings), self.recover, "projector claim")

    async def settle(self, entry_ids: Sequence[str]) -> int:
        """Apply the log up to the latest of `entry_ids` (the caller acknowledges them)."""
        if not entry_ids:
            return 0
        started = time.perf_counter()
        until = max(entry_ids, key=position_key)
        # The read model's writes are short synchronous scripts; keep them off the event loop.
        applied = await asyncio.to_thread(
            self.read_model.catch_up, until, on_poison=self._dead_letter
        )
        self.metrics.batch_done(len(entry_ids), time.perf_counter() - started)
        return applied

    def _dead_letter(
        self, entry_id: str, fields: dict[bytes, bytes], reason: str, code: DeadLetterCode
    ) -> None:
        self.read_model.dead_letter(entry_id, fields, reason, code)
        self.metrics.emitted("DeadLetter")

    async def _settle_and_ack(self, batch: Sequence[Delivery]) -> None:
        ids = [d.entry_id for d in batch]
        await self.settle(ids)
        await self.client.xack(self.recovery.stream, self.recovery.group, *ids)

    async def recover(self) -> int:
        """Own pending entries first, then dead consumers' idle ones (before subscribing)."""
        handled = await self.recovery.recover(self._settle_and_ack)
        if handled:
            log.info("projector recovered %d pending entries", handled)
        return handled

    async def start_claiming(self) -> None:
        self._claimer.start()

    async def stop(self) -> None:
        await self._claimer.stop()
        await self.client.aclose()


def build_app(settings: Settings) -> FastStream:
    """The projector as a FastStream app (importable for AsyncAPI generation)."""
    keys = settings.keys
    broker = redis_broker(settings)
    projector = Projector(settings)

    @broker.subscriber(
        stream=batch_subscription(keys.agreements, keys.projector_group, settings),
        title="projector",
        description="Agreements log -> read model (timelines, names, current schedules)",
    )
    async def on_agreement_events(body: list[Any], msg: RedisBatchStreamMessage) -> None:
        # The bodies are not needed: the log itself is read in order from the checkpoint.
        await projector.settle([text(i) for i in msg.raw_message["message_ids"]])

    return FastStream(
        broker,
        on_startup=[projector.recover],
        after_startup=[projector.start_claiming],
        on_shutdown=[projector.stop],
    )


async def run_projector(settings: Settings, stop: asyncio.Event) -> None:
    """Run the projector until `stop` is set (used by `feeschedule run projector|all`)."""
    app = build_app(settings)
    groups = [(settings.keys.agreements, settings.keys.projector_group)]
    async with http_endpoint(settings, "projector", groups), app:
        await stop.wait()
