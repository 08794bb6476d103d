"""Consumer-group recovery that FastStream does not do by itself.

FastStream's stream subscriber reads only new entries (`>`): its own pending entries stay
pending forever after a crash, and a dead consumer's entries are never claimed. A service
therefore runs `GroupRecovery` on start (own pending first, then idle entries of others via
XAUTOCLAIM) and again periodically, before and beside its FastStream subscriber. Entries
published through FastStream itself arrive in its envelope: `plain_fields` unwraps it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
from faststream.redis import StreamSub
from faststream.redis.parser.binary import BinaryMessageFormatV1
from redis.exceptions import ResponseError

from services.adapters.connection import text
from services.settings import Settings


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stream entry handed to a consumer, with how often it has been delivered."""

    entry_id: str
    fields: dict[bytes, bytes]
    deliveries: int = 1


BatchHandler = Callable[[Sequence[Delivery]], Awaitable[None]]


def deliveries_of(batch: Mapping[str, Any]) -> list[Delivery]:
    """A batch as FastStream's raw stream subscriber hands it over: entry ids and fields."""
    return [
        Delivery(text(entry_id), fields)
        for entry_id, fields in zip(batch["message_ids"], batch["data"], strict=True)
    ]


async def ensure_group(client: aioredis.Redis, stream: str, group: str) -> None:
    """Create the group at the start of the stream (and the stream) unless it exists."""
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def batch_subscription(stream: str, group: str, settings: Settings) -> StreamSub[Literal[True]]:
    """What a service's FastStream subscriber reads: new entries of `stream`, for `settings`'
    consumer in `group`, in batches of up to `batch_size`."""
    return StreamSub(
        stream,
        group=group,
        consumer=settings.consumer,
        batch=True,
        max_records=settings.batch_size,
        polling_interval=settings.block_ms,
    )


def claim_interval(settings: Settings) -> float:
    """How often a service claims other consumers' idle entries: half the idle time they must
    have, within 0.2 to 30 s."""
    return min(max(settings.claim_idle_ms / 2000, 0.2), 30.0)


@dataclass
class GroupRecovery:
    """Reads the pending entries of `settings`' consumer and claims other consumers' idle ones,
    in batches and after the idle time the settings set."""

    client: aioredis.Redis
    stream: str
    group: str
    settings: Settings

    async def _with_counts(self, rows: list[tuple[Any, Any]]) -> list[Delivery]:
        """The entries read, each with how often it has been delivered."""
        if not rows:
            return []
        ids = [text(entry_id) for entry_id, _ in rows]
        pending: list[dict[str, Any]] = await self.client.xpending_range(
            self.stream, self.group, min=ids[0], max=ids[-1], count=len(ids) + 1000
        )
        counts = {text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        # A pending entry deleted from the stream comes back without fields: nothing to do.
        return [
            Delivery(key, dict(fields or {}), counts.get(key, 1))
            for key, (_, fields) in zip(ids, rows, strict=True)
        ]

    async def own_pending(self) -> list[Delivery]:
        """The next batch of entries delivered to this consumer and never acknowledged."""
        reply: Any = await self.client.xreadgroup(
            self.group, self.settings.consumer, {self.stream: "0"}, count=self.settings.batch_size
        )
        return await self._with_counts(reply[0][1] if reply else [])

    async def claim_idle(self, cursor: str = "0-0") -> tuple[str, list[Delivery]]:
        """Take over entries idle longer than `claim_idle_ms`; returns (next cursor, batch)."""
        reply: Any = await self.client.xautoclaim(
            self.stream,
            self.group,
            self.settings.consumer,
            min_idle_time=self.settings.claim_idle_ms,
            start_id=cursor,
            count=self.settings.batch_size,
        )
        return text(reply[0]), await self._with_counts([r for r in reply[1] if r is not None])

    async def recover(self, handle: BatchHandler) -> int:
        """Own pending first, then others' idle entries; `handle` must ack what it settles.
        The group (and the stream) is made first, unless it exists.

        Returns how many entries were handed over. Stops when a pass makes no progress, so
        an entry the handler leaves unacknowledged cannot spin the loop.
        """
        await ensure_group(self.client, self.stream, self.group)
        handled = 0
        seen: set[str] = set()
        while batch := [d for d in await self.own_pending() if d.entry_id not in seen]:
            seen.update(d.entry_id for d in batch)
            await handle(batch)
            handled += len(batch)
        return handled + await self.claim_all_idle(handle)

    async def claim_all_idle(self, handle: BatchHandler) -> int:
        """Take over every entry idle longer than `claim_idle_ms`, batch by batch, handing each
        batch to `handle`; returns how many were handed over."""
        handled, cursor = 0, "0-0"
        while True:
            cursor, claimed = await self.claim_idle(cursor)
            if claimed:
                await handle(claimed)
                handled += len(claimed)
            if cursor == "0-0":
                return handled


def plain_fields(fields: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """FastStream's own envelope (`__data__`, binary or legacy JSON) as plain wire fields."""
    envelope = fields.get(b"__data__")
    if envelope is None or b"data" in fields:
        return fields if isinstance(fields, dict) else dict(fields)  # plain already: no copy
    body, _headers = BinaryMessageFormatV1.parse(envelope)
    return {b"data": body}
