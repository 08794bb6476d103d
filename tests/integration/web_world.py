"""Demo-like data for the web site's tests, recorded as the services record it.

An agreement, Amendment No. 2 (0.90% flat, effective 2006-05-01) and then, later in the log,
Amendment No. 22 (0.88% of the first $500 million, 0.83% over, effective 2006-11-01); a real
fee worker accrues business days around 2006-11-01 before No. 22 is recorded (so it adjusts
November's first days) and two days after it (one of them over $500 million), and dead-letters
one unreadable report.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import redis
from test_fee_worker_support import (
    TIERS_A,
    amend,
    await_for,
    register,
    report,
    running_worker,
    settings_for,
)

from services.adapters.keys import Keys

PID = "met-aim-small-cap-growth-portfolio"
NAME = "Fund " + PID
FLAT_090 = [{"from": "0", "to": None, "rate_pct": "0.90"}]
BEFORE_22 = [date(2006, 10, 30), date(2006, 10, 31), date(2006, 11, 1), date(2006, 11, 2)]
AFTER_22 = {date(2006, 11, 6): "420000000.00", date(2006, 11, 7): "612345678.91"}


@dataclass(frozen=True)
class World:
    redis_url: str
    prefix: str
    first_position: str  # Amendment No. 2's log position
    second_position: str  # Amendment No. 22's

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    def fee_accrued(self, client: redis.Redis, as_of: str) -> dict[str, Any]:
        for _, fields in client.xrange(self.keys.accruals):  # type: ignore[union-attr]
            data = json.loads(fields[b"data"])
            if data["type"] == "FeeAccrued" and data["as_of"] == as_of:
                return data  # type: ignore[no-any-return]
        raise AssertionError(f"no FeeAccrued on {as_of}")


async def _record(client: redis.Redis, redis_url: str, prefix: str) -> tuple[str, str]:
    keys = Keys(prefix)
    register(client, keys, "AG-1", trust="Met Investors Series Trust")
    first = amend(client, keys, 2, date(2006, 5, 1), FLAT_090, portfolio_id=PID)
    ledger = keys.ledger(PID)
    async with running_worker(settings_for(redis_url, prefix)):
        for day in BEFORE_22:
            report(client, keys, PID, day, "420000000.00")
        client.xadd(keys.net_assets, {"type": "NetAssetsReported", "data": "{not json"})
        await await_for(lambda: client.hlen(ledger) == len(BEFORE_22))
        second = amend(
            client, keys, 22, date(2006, 11, 1), TIERS_A, portfolio_id=PID, action="revise"
        )
        for day, assets in AFTER_22.items():
            report(client, keys, PID, day, assets)
        await await_for(lambda: client.hlen(ledger) == len(BEFORE_22) + len(AFTER_22))
        await await_for(lambda: b"adjustment_id" in (client.hget(ledger, "2006-11-01") or b""))
        await await_for(lambda: client.xlen(keys.dead_letters) >= 1)
    return first, second


def recorded_world(redis_url: str) -> Iterator[World]:
    """Records the world under a fresh prefix; removes its keys afterwards."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(redis_url)
    try:
        # On a thread of its own: Playwright's sync API may already run a loop on this one.
        with ThreadPoolExecutor(1) as pool:
            first, second = pool.submit(asyncio.run, _record(client, redis_url, prefix)).result()
        yield World(redis_url, prefix, first, second)
    finally:
        for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            client.delete(key)
        client.close()
