"""Fee worker throughput against a raw redis-py loop doing the same job without guarantees.

    python -m benchmarks.bench_worker [--reports 100000] [--portfolios 50] [--batch 500]
                                      [--rounds 1]

In one run, over the same N net-asset reports (plain wire entries, pre-loaded):
  (a) raw loop: XREADGROUP 500 -> validate -> fee -> XADD FeeAccrued -> XACK, one pipeline per
      batch; no ledger, no dedupe, no dead letters, no recovery, no late-knowledge checks;
  (b) the real worker (FastStream batch subscriber + one Lua step per batch: ledger, dedupe,
      events and XACK atomically), in this process, timed from start until the N-th FeeAccrued.
Each round runs a, b, b, a (each on its own fresh copy of the reports), so a machine that
speeds up or slows down during the run weighs on both sides alike; the ratio b/a is total time
of (a) over total time of (b). Prints each run, both rates and the ratio. Uses throwaway
prefixes and deletes their keys afterwards.
Redis: FEES_REDIS_URL, else REDIS_URL, else an embedded redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import redis
import redis.asyncio as aioredis

from benchmarks.machine import cpu_times, describe
from contracts.messages import AgreementRegistered, AmendmentRecorded
from contracts.wire import encode
from services.adapters.keys import Keys
from services.adapters.log import read_log
from services.domain.book import ScheduleBook
from services.fee_worker.pricing import Pricer, fee_accrued, read_report
from services.fee_worker.service import run_fee_worker
from services.mapping import apply_to_book
from services.settings import Settings

TIERS = [
    {"from": "0", "to": "500000000", "rate_pct": "0.88"},
    {"from": "500000000", "to": "1000000000", "rate_pct": "0.83"},
    {"from": "1000000000", "to": None, "rate_pct": "0.78"},
]


@contextmanager
def redis_url() -> Iterator[str]:
    url = os.environ.get("FEES_REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    from services.adapters.redis_server import embedded_redis

    with embedded_redis() as embedded:
        yield embedded


def reports(n: int, portfolios: int, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        pid = f"P{i % portfolios:03d}"
        day = date(2000, 1, 1) + timedelta(days=i // portfolios)
        data = {
            "type": "NetAssetsReported",
            "event_id": f"e{i}",
            "report_id": f"r{i}",
            "portfolio_id": pid,
            "as_of": day.isoformat(),
            "net_assets": str(Decimal(rng.randrange(0, 3_000_000_000_00)).scaleb(-2)),
        }
        out.append({"type": "NetAssetsReported", "event_id": f"e{i}", "data": json.dumps(data)})
    return out


def _fields(fields: dict[str, str]) -> Any:
    # redis-py types stream fields as a dict of a wide union; plain text fields are fine.
    return fields


def set_up(client: redis.Redis, keys: Keys, entries: list[dict[str, str]], portfolios: int) -> None:
    client.xadd(keys.agreements, _fields(encode(AgreementRegistered(agreement_id="BENCH"))))
    amendment = AmendmentRecorded.model_validate(
        {
            "agreement_id": "BENCH",
            "amendment_number": 1,
            "effective_date": "1999-01-01",
            "changes": [
                {"action": "add", "portfolio_id": f"P{p:03d}", "portfolio_name": f"P{p}"}
                | {"tiers": TIERS}
                for p in range(portfolios)
            ],
        }
    )
    client.xadd(keys.agreements, _fields(encode(amendment)))
    for i in range(0, len(entries), 5000):
        pipe = client.pipeline(transaction=False)
        for fields in entries[i : i + 5000]:
            pipe.xadd(keys.net_assets, _fields(fields))
        pipe.execute()
    client.xgroup_create(keys.net_assets, Keys.fee_worker_group, id="0")


def raw_loop(client: redis.Redis, keys: Keys, n: int, batch: int) -> float:
    """(a): the same job with redis-py alone, no guarantees. Returns seconds."""
    book = ScheduleBook()
    for position, message in read_log(client, keys.agreements):
        apply_to_book(book, message, position)
    pricer = Pricer(book, keys.net_assets)
    started = time.perf_counter()
    done = 0
    while done < n:
        reply: Any = client.xreadgroup(
            Keys.fee_worker_group, "raw", {keys.net_assets: ">"}, count=batch
        )
        if not reply:
            break
        pipe = client.pipeline(transaction=False)
        ids = []
        for entry_id, fields in reply[0][1]:
            ids.append(entry_id)
            try:
                report = read_report(fields)
            except ValueError:
                continue
            priced = pricer.price(
                report.portfolio_id, report.as_of, report.net_assets, report.accrual_days
            )
            if priced is not None:
                pipe.xadd(keys.accruals, _fields(encode(fee_accrued(report, *priced))))
        pipe.xack(keys.net_assets, Keys.fee_worker_group, *ids)
        pipe.execute()
        done += len(ids)
    return time.perf_counter() - started


async def real_worker(url: str, keys: Keys, n: int, batch: int) -> float:
    """(b): the fee worker with exactly-once effects. Returns seconds until the N-th fee."""
    settings = Settings(redis_url=url, prefix=keys.prefix, batch_size=batch, consumer="bench")
    probe = aioredis.Redis.from_url(url)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(run_fee_worker(settings, stop))
    try:
        # Polled sparingly: the probe shares the worker's event loop and core.
        while await probe.xlen(keys.accruals) < n:
            if task.done():
                task.result()
                raise RuntimeError("the worker stopped early")
            await asyncio.sleep(0.02)
        return time.perf_counter() - started
    finally:
        stop.set()
        await task
        await probe.aclose()


def clean(client: redis.Redis, *prefixes: str) -> None:
    for prefix in prefixes:
        for key in client.scan_iter(match="{" + prefix + "}:*", count=1000):
            client.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--portfolios", type=int, default=50)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of a, b, b, a")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    entries = reports(args.reports, args.portfolios)
    run = uuid.uuid4().hex[:8]
    seconds: dict[str, list[float]] = {"a": [], "b": []}
    print(f"reports            {args.reports:,} ({args.portfolios} portfolios, batch {args.batch})")
    with redis_url() as url:
        client = redis.Redis.from_url(url)
        before = cpu_times()
        try:
            for i, side in enumerate("abba" * args.rounds):
                keys = Keys(f"bench-{run}-{i}-{side}")
                set_up(client, keys, entries, args.portfolios)
                try:
                    if side == "a":
                        took = raw_loop(client, keys, args.reports, args.batch)
                    else:
                        took = asyncio.run(real_worker(url, keys, args.reports, args.batch))
                        per_portfolio = -(-args.reports // args.portfolios)
                        assert client.hlen(keys.ledger("P000")) == per_portfolio
                    assert client.xlen(keys.accruals) == args.reports
                finally:
                    clean(client, keys.prefix)
                seconds[side].append(took)
                print(f"  run {i + 1} ({side})        {args.reports / took:,.0f} reports/s")
        finally:
            client.close()
        machine = describe(before, cpu_times())
    raw_seconds, worker_seconds = sum(seconds["a"]), sum(seconds["b"])
    runs = len(seconds["a"])
    a = runs * args.reports / raw_seconds
    b = runs * args.reports / worker_seconds
    print(f"(a) raw redis-py   {a:,.0f} reports/s  ({raw_seconds:.2f} s, {runs} runs)")
    print(f"(b) fee worker     {b:,.0f} reports/s  ({worker_seconds:.2f} s, {runs} runs)")
    print(f"ratio b/a          {b / a:.2f}")
    print(machine)


if __name__ == "__main__":
    main()
