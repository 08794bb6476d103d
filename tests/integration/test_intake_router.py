"""The intake router on a real Redis: what clients sent to the unpartitioned streams reaches
its partition's stream, once acknowledged; a dead router's entries are forwarded on start."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from services.adapters.keys import Keys
from services.fee_worker.router import IntakeRouter
from services.settings import Settings

pytestmark = pytest.mark.integration

P = 4


def report(pid: str, day: str) -> dict[str, str]:
    data = {"type": "NetAssetsReported", "portfolio_id": pid, "as_of": day, "event_id": pid + day}
    return {"type": "NetAssetsReported", "event_id": pid + day, "data": json.dumps(data)}


def lane_entries(client: redis.Redis, keys: Keys, name: str) -> list[list[dict[bytes, bytes]]]:
    out = []
    for k in range(P):
        rows: Any = client.xrange(getattr(keys.lane(k), name))
        out.append([f for _, f in rows])
    return out


async def test_entries_reach_their_partition_even_those_a_dead_router_read(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    pids = [f"F{i:02d}" for i in range(12)]
    for pid in pids:
        redis_client.xadd(keys.net_assets, report(pid, "2024-01-02"))  # type: ignore[arg-type]
    redis_client.xgroup_create(keys.net_assets, "fee-worker", id="0")
    # A router that read half of them and died before forwarding any.
    redis_client.xreadgroup("fee-worker", "dead", {keys.net_assets: ">"}, count=6)
    redis_client.xadd(
        keys.commands,
        {
            "type": "CloseMonthRequested",
            "data": json.dumps({"type": "CloseMonthRequested", "month": "2024-01"}),
        },
    )  # type: ignore[arg-type]
    redis_client.xadd(keys.invoices, {"type": "InvoiceReceived", "data": "not json"})
    settings = Settings(redis_url=redis_url, prefix=prefix, partitions=P, claim_idle_ms=0)
    client = aioredis.Redis.from_url(redis_url)
    try:
        router = IntakeRouter(client, settings)
        await router.start()  # the dead router's six
        assert sum(map(len, lane_entries(redis_client, keys, "net_assets"))) == 6
        for route, _ in router.routes:  # what FastStream hands over next: the rest
            rows: Any = await client.xreadgroup(route.group, "me", {route.stream: ">"})
            if rows:
                await route.on_batch(
                    {"message_ids": [r[0] for r in rows[0][1]], "data": [r[1] for r in rows[0][1]]}
                )
    finally:
        await client.aclose()
    reached = lane_entries(redis_client, keys, "net_assets")
    for k, entries in enumerate(reached):
        assert sorted(json.loads(e[b"data"])["portfolio_id"] for e in entries) == sorted(
            p for p in pids if zlib.crc32(p.encode()) % P == k
        )
    # A close naming no portfolio goes to every partition; what names nothing to partition 0.
    assert [len(e) for e in lane_entries(redis_client, keys, "commands")] == [1] * P
    assert [len(e) for e in lane_entries(redis_client, keys, "invoices")] == [1, 0, 0, 0]
    for stream in (keys.net_assets, keys.commands, keys.invoices):
        pending: Any = redis_client.xpending(
            stream,
            "fee-worker"
            if stream == keys.net_assets
            else ("fee-worker-commands" if stream == keys.commands else "fee-worker-invoices"),
        )
        assert pending["pending"] == 0, stream
