"""The Redis ledger (settle.lua) keeps the storage invariants of tests/ledger_port_cases.py, on
a real Redis, each test under its own key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from ledger_port_cases import D1, LedgerStoreCases, Stream, accrue, event, report

from services.adapters.keys import Keys
from services.adapters.ledger import RedisLedgerStore, read_closed_months, read_unpriced_dates
from services.app.operations import Accrue, CloseMonth, Op, Park

pytestmark = pytest.mark.integration

GROUP = Keys.fee_worker_group


class TestRedisLedgerStore(LedgerStoreCases):
    @pytest.fixture(autouse=True)
    async def _redis(
        self, redis_url: str, prefix: str, redis_client: redis.Redis
    ) -> AsyncIterator[None]:
        self.keys = Keys(prefix)
        self.redis = redis_client
        self.redis.xgroup_create(self.keys.net_assets, GROUP, id="0", mkstream=True)
        self.client = aioredis.Redis.from_url(redis_url)
        yield
        await self.client.aclose()

    def create_store(self) -> RedisLedgerStore:
        return RedisLedgerStore(self.client, self.keys, GROUP)

    def create_partitions(self, count: int) -> list[RedisLedgerStore]:
        lanes = [Keys(self.keys.prefix, str(k)) for k in range(count)]
        return [
            RedisLedgerStore(self.client, lane, GROUP, elsewhere=[o for o in lanes if o != lane])
            for lane in lanes
        ]

    async def deliver(self, count: int) -> list[str]:
        for i in range(count):
            self.redis.xadd(self.keys.net_assets, {"n": str(i)})
        reply: Any = self.redis.xreadgroup(GROUP, "c1", {self.keys.net_assets: ">"}, count=count)
        return [entry_id.decode() for entry_id, _ in reply[0][1]]

    async def pending(self) -> set[str]:
        rows: Any = self.redis.xpending_range(self.keys.net_assets, GROUP, "-", "+", 1000)
        return {row["message_id"].decode() for row in rows}

    async def events(self, stream: Stream) -> list[tuple[str, str]]:
        rows: Any = self.redis.xrange(getattr(self.keys, stream))
        return [(f[b"type"].decode(), f[b"event_id"].decode()) for _, f in rows]

    async def test_a_ledger_key_that_is_not_a_hash_is_refused_with_its_portfolio(self) -> None:
        store = self.create_store()
        self.redis.set(self.keys.ledger("P1"), "not a ledger")
        result = await store.settle([accrue(D1, "one", None)], "")
        assert (result.status, result.portfolio_id) == ("refused", "P1")
        assert repr(self.keys.ledger("P1")) in result.detail and "string" in result.detail
        assert self.redis.get(self.keys.ledger("P1")) == b"not a ledger"
        assert await self.events("accruals") == []

    async def test_every_field_travels_as_given_newlines_and_empty_ones_too(self) -> None:
        # Each field is its own argument of the script: no character is reserved.
        store = self.create_store()
        [ack] = await self.deliver(1)
        fee = {"event_id": "e\n1", "data": '{"type":\n"FeeAccrued"}'}
        op = Accrue("P1", D1, "entry\nwith\nlines", report(D1), fee, ack, ("P1|x", ""))
        result = await store.settle([op], "")
        assert (result.status, result.conflicts) == ("ok", [])
        assert self.redis.hget(self.keys.ledger("P1"), D1) == b"entry\nwith\nlines"
        [(_, fields)] = self.redis.xrange(self.keys.accruals)
        assert (fields[b"event_id"], fields[b"data"]) == (b"e\n1", b'{"type":\n"FeeAccrued"}')

    async def test_the_commands_read_a_portfolios_parked_days_and_closed_months_only(self) -> None:
        """`accruals` and the web page read them by name: "P1|B"'s are not P1's."""
        store = self.create_store()
        ops: list[Op] = []
        for pid in ("P1", "P1|B"):
            held = event("ReportHeld", f"held-{pid}")
            ops.append(Park(pid, D1, report(D1, portfolio_id=pid), held, None, None))
            ops.append(CloseMonth(pid, "2023-12", f"{pid}:2023-12", (event("PeriodClosed", pid),)))
        assert (await store.settle(ops, "")).status == "ok"
        for pid in ("P1", "P1|B"):
            assert read_unpriced_dates(self.redis, [self.keys], pid) == [D1]
            assert read_closed_months(self.redis, [self.keys], pid) == ["2023-12"]
