"""The intake router: with several partitions, what clients sent to the unpartitioned streams
(net assets, invoices, commands) is forwarded to the partitions' streams.

At least once: the forwards are added, then the entries acknowledged (two steps, as the
streams are on different slots). A forward repeated after a crash is the same report, which
its partition settles once (the second is ignored as a duplicate); a close asked twice closes
once. The partition an entry goes to is services.app.routing's decision.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from services.adapters.background import Periodic
from services.adapters.consumer import (
    Delivery,
    GroupRecovery,
    claim_interval,
    deliveries_of,
    plain_fields,
)
from services.adapters.keys import Keys
from services.app.routing import intake_partitions
from services.settings import Settings

log = logging.getLogger("feeschedule.fee_worker")

Handler = Callable[[Mapping[str, Any]], Awaitable[None]]
# An input stream a subscriber follows: its name, consumer group, description and handler.
Input = tuple[str, str, str, Handler]


class Route:
    """One unpartitioned stream (`name`, a Keys attribute), and the stream of the same name in
    each partition."""

    def __init__(self, client: aioredis.Redis, settings: Settings, name: str, group: str) -> None:
        self.client, self.group = client, group
        self.stream: str = getattr(settings.keys, name)
        self.targets: list[str] = [getattr(lane, name) for lane in settings.lanes]
        self.recovery = GroupRecovery(client, self.stream, group, settings)

    async def on_batch(self, raw: Mapping[str, Any]) -> None:
        await self.forward(deliveries_of(raw))

    async def forward(self, deliveries: Sequence[Delivery]) -> None:
        sends = [
            (self.targets[k], fields)
            for delivery in deliveries
            if delivery.fields  # else deleted before it was forwarded: nothing to send
            for fields in [plain_fields(delivery.fields)]
            for k in intake_partitions(fields, len(self.targets))
        ]
        await forward(self.client, sends, self.stream, self.group, [d.entry_id for d in deliveries])
        log.debug("%d entries of %s forwarded to their partitions", len(deliveries), self.stream)


async def forward(
    client: aioredis.Redis,
    sends: Sequence[tuple[str, Mapping[bytes, bytes] | Mapping[str, str]]],
    source: str,
    group: str,
    entry_ids: Sequence[str],
) -> None:
    """Add each entry to its stream, then acknowledge `entry_ids` on `source`: at least once
    (the streams are on other slots), a repeat settled once where it arrives."""
    if sends:
        async with client.pipeline(transaction=False) as pipe:
            for stream, fields in sends:
                pipe.xadd(stream, fields)  # type: ignore[arg-type]
            await pipe.execute()
    if entry_ids:
        await client.xack(source, group, *entry_ids)


class IntakeRouter:
    """The routes of the three unpartitioned input streams."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.maintenance = Periodic(
            claim_interval(settings), self._claim, "intake router maintenance pass"
        )
        kinds = {
            "net_assets": (Keys.fee_worker_group, "NetAssetsReported"),
            "invoices": (Keys.invoice_group, "InvoiceReceived"),
            "commands": (Keys.command_group, "CloseMonthRequested"),
        }
        self.routes = [
            (
                Route(client, settings, name, group),
                f"{kind} sent to the unpartitioned stream, forwarded to its partition.",
            )
            for name, (group, kind) in kinds.items()
        ]

    def inputs(self) -> list[Input]:
        return [(r.stream, r.group, about, r.on_batch) for r, about in self.routes]

    async def start(self) -> None:
        """Create the groups, and forward what an earlier router read and did not forward."""
        for route, _ in self.routes:
            await route.recovery.recover(route.forward)

    async def _claim(self) -> None:
        """Forward what a router that died had read and not forwarded."""
        for route, _ in self.routes:
            await route.recovery.claim_all_idle(route.forward)
