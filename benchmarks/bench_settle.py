"""Redis's own time per operation of the fee worker's settle step (settle.lua): this
checkout's script against another revision's, on the same operations.

    python -m benchmarks.bench_settle [--against HEAD] [--reports 125] [--portfolios 50]
                                      [--blocks 8] [--steps 40]

The operations are the worker's own: bench_worker's reports planned by the service's Pricer
(one part of a batch, --reports accruals), settled through RedisLedgerStore on fresh keys.
The two scripts take turns by blocks of --steps steps, the order reversed every block; before
each block the server's command statistics are reset (CONFIG RESETSTAT), and after it their
EVALSHA time is read: the time inside the script, its commands included, without the network
or the parse of the arguments. Prints each script's median time per operation over the
blocks and their ratio (the revision's over this checkout's: > 1 is faster). It resets the
command statistics of the server it runs on: give it a Redis of its own.
Redis: FEES_REDIS_URL, else REDIS_URL, else an embedded redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from benchmarks.bench_worker import ROOT, agreement, redis_url, reports
from services.adapters.consumer import Delivery
from services.adapters.keys import Keys
from services.adapters.ledger import SETTLE_LUA, RedisLedgerStore
from services.app.operations import Op
from services.app.pricing import Pricer
from services.domain.book import ScheduleBook
from services.mapping import apply_to_book


def planned(count: int, portfolios: int) -> list[Op]:
    """The operations the worker settles for the benchmark's first `count` reports."""
    book = ScheduleBook()
    registered, amendment = agreement(portfolios)
    apply_to_book(book, registered, "1-1")
    apply_to_book(book, amendment, "1-2")
    entries = [
        Delivery(f"1-{i}", {k.encode(): v.encode() for k, v in fields.items()})
        for i, fields in enumerate(reports(count, portfolios), start=1)
    ]
    return Pricer(book, "net-assets").plan_batch(entries)


def script_at(revision: str) -> str:
    """settle.lua as `revision` of this checkout has it."""
    path = "services/adapters/settle.lua"
    shown = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:{path}"], capture_output=True, text=True
    )
    if shown.returncode != 0:
        raise SystemExit(f"--against {revision!r}: {shown.stderr.strip()}")
    return shown.stdout


async def block(
    client: aioredis.Redis,
    script: AsyncScript,
    ops: Sequence[Op],
    steps: int,
    prefix: str = "bench-settle",
) -> float:
    """Microseconds of Redis's time per operation, over `steps` steps on fresh keys (under
    `prefix`, deleted afterwards)."""
    await client.config_resetstat()
    prefixes = []
    for _ in range(steps):
        store = RedisLedgerStore(client, Keys(f"{prefix}-{uuid.uuid4().hex[:8]}"), "bench")
        store._settle = script  # the script measured, in place of this checkout's
        prefixes.append(store.keys.prefix)
        result = await store.settle(ops, "")
        if result.status != "ok" or result.conflicts:
            raise AssertionError(f"the step did not settle: {result}")
    stats: Any = await client.info("commandstats")
    for prefix in prefixes:
        async for key in client.scan_iter(match="{" + prefix + "}:*", count=1000):
            await client.delete(key)
    return float(stats["cmdstat_evalsha"]["usec_per_call"]) / len(ops)


async def compare(url: str, against: str, ops: Sequence[Op], blocks: int, steps: int) -> None:
    client = aioredis.Redis.from_url(url)
    scripts = {"this checkout": SETTLE_LUA, against: script_at(against)}
    registered = {name: client.register_script(text) for name, text in scripts.items()}
    times: dict[str, list[float]] = {name: [] for name in scripts}
    try:
        for i in range(blocks):
            for name in list(registered)[:: 1 if i % 2 == 0 else -1]:
                times[name].append(await block(client, registered[name], ops, steps))
    finally:
        await client.aclose()
    for name, values in times.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:<16} {statistics.median(values):.2f} us per operation  (blocks: {each})")
    ratio = statistics.median(times[against]) / statistics.median(times["this checkout"])
    print(f"{against} / this checkout: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--against", default="HEAD", help="the revision whose script is the baseline"
    )
    parser.add_argument("--reports", type=int, default=125, help="operations per step")
    parser.add_argument("--portfolios", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40, help="steps per block")
    args = parser.parse_args()
    ops = planned(args.reports, args.portfolios)
    print(f"steps of {len(ops)} accruals ({args.portfolios} portfolios), {args.blocks} blocks")
    with redis_url() as url:
        asyncio.run(compare(url, args.against, ops, args.blocks, args.steps))


if __name__ == "__main__":
    main()
