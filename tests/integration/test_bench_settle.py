"""The settle-script benchmark settles the worker's own operations on real Redis, reads the
script's time, and leaves no key behind."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio as aioredis

from benchmarks.bench_settle import block, planned
from services.adapters.ledger import SETTLE_LUA
from services.app.operations import Accrue

pytestmark = pytest.mark.integration


def test_the_operations_are_the_workers_accruals() -> None:
    ops = planned(20, 4)
    assert all(isinstance(op, Accrue) for op in ops)
    assert len({(op.portfolio_id, op.as_of) for op in ops if isinstance(op, Accrue)}) == 20


async def test_a_block_times_the_script_and_deletes_its_keys(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        per_op = await block(client, client.register_script(SETTLE_LUA), planned(20, 4), 3, prefix)
    finally:
        await client.aclose()
    assert per_op > 0
    assert not list(redis_client.scan_iter(match=f"*{prefix}*"))
