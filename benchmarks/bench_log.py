"""Benchmark the agreements log: read-model rebuild throughput and read-model lookup latency.

    python -m benchmarks.bench_log [--events 100000] [--portfolios 2000] [--lookups 5000]
                                   [--runs 3] [--workers 2]

Builds a log of N amendment events under a throwaway key prefix (through the real Lua append),
then measures, in the same process and over the same data, against a raw redis-py baseline:
  * rebuild: `ReadModel.rebuild(workers=N)` (decode, fold, encode and write with N processes,
    swap) vs XRANGE-reading the same log;
  * lookup: `schedule --source read-model` (the audit code path: `audit.schedule_on`, one
    EVALSHA) vs a plain HGET of the same portfolio's stored answers,
    alternating call by call on one persistent connection; only the call is timed.
Each figure is the median over `--runs` runs. The throwaway keys are deleted afterwards.
Needs FEES_REDIS_URL or REDIS_URL.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from typing import Any

import redis

from benchmarks.machine import cpu_times, describe
from contracts.messages import AgreementRegistered, AmendmentRecorded
from contracts.wire import encode
from services.adapters.connection import sync_client
from services.adapters.eventstore import _APPEND_LUA, EventStore
from services.adapters.keys import Keys
from services.adapters.readmodel import ReadModel
from services.app.audit import Source, schedule_on
from services.settings import Settings

PER_AGREEMENT = 1000


def build_log(client: redis.Redis, keys: Keys, events: int, portfolios: int) -> None:
    """N amendment events over `portfolios` portfolios, appended with the event store's script."""
    append = client.register_script(_APPEND_LUA)
    agreements = max(1, events // PER_AGREEMENT)
    pipe = client.pipeline(transaction=False)
    versions: dict[str, int] = {}

    def add(message: Any, agreement_id: str) -> None:
        fields = [x for pair in encode(message).items() for x in pair]
        append(
            keys=[
                keys.agreements,
                keys.agreement_versions,
                keys.agreement_events(agreement_id),
                keys.idempotency,
            ],
            args=[agreement_id, versions.get(agreement_id, 0), "", *fields],
            client=pipe,
        )
        versions[agreement_id] = versions.get(agreement_id, 0) + 1

    for a in range(agreements):
        add(AgreementRegistered(agreement_id=f"agr-{a}"), f"agr-{a}")
    seen: set[str] = set()
    for i in range(events):
        pid = f"portfolio-{i % portfolios}"
        agreement_id = f"agr-{(i % portfolios) % agreements}"
        number = versions[agreement_id]
        tiers = [
            {"from": "0", "to": "500000000", "rate_pct": f"0.{50 + i % 40}"},
            {"from": "500000000", "to": None, "rate_pct": f"0.{40 + i % 40}"},
        ]
        message = AmendmentRecorded.model_validate(
            {
                "agreement_id": agreement_id,
                "amendment_number": number,
                "effective_date": date(2000, 1, 1) + timedelta(days=(i * 7919) % 9000),
                "changes": [
                    {
                        "action": "revise" if pid in seen else "add",
                        "portfolio_id": pid,
                        "portfolio_name": f"Portfolio {i % portfolios}",
                        "tiers": tiers,
                    }
                ],
            }
        )
        seen.add(pid)
        add(message, agreement_id)
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raw_xrange(client: redis.Redis, stream: str, page: int = 2000) -> int:
    count, start = 0, "-"
    while True:
        rows: Any = client.xrange(stream, min=start, max="+", count=page)
        count += len(rows)
        if len(rows) < page:
            return count
        start = "(" + rows[-1][0].decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--portfolios", type=int, default=2000)
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    settings = Settings()
    client = sync_client(settings)
    keys = Keys(f"bench-{uuid.uuid4().hex[:10]}")
    try:
        started = time.perf_counter()
        build_log(client, keys, args.events, args.portfolios)
        total: Any = client.xlen(keys.agreements)
        print(f"log: {total} entries built in {time.perf_counter() - started:.1f}s ({keys.tag})")
        generation = measure_rebuild(client, keys, args)
        measure_lookups(client, keys, generation, args)
    finally:
        deleted = 0
        for key in client.scan_iter(match=keys.tag.replace("{", "[{]") + "*", count=5000):
            deleted += int(client.unlink(key))
        print(f"cleanup: {deleted} throwaway keys deleted")
    return 0


def measure_rebuild(client: redis.Redis, keys: Keys, args: argparse.Namespace) -> str:
    """The read model rebuilt from the log, against a raw XRANGE of it; its generation."""
    rebuilds, baselines, result = [], [], None
    before = cpu_times()
    for _ in range(args.runs):
        t = time.perf_counter()
        read = raw_xrange(client, keys.agreements)
        baselines.append(read / (time.perf_counter() - t))
        t = time.perf_counter()
        result = ReadModel(client, keys).rebuild(workers=args.workers)
        rebuilds.append(result.events / (time.perf_counter() - t))
    rebuilding = describe(before, cpu_times())
    rebuild, baseline = statistics.median(rebuilds), statistics.median(baselines)
    print(
        f"rebuild ({args.workers} workers): {rebuild:,.0f} events/s"
        f"  (raw XRANGE baseline {baseline:,.0f} events/s;"
        f" ratio {rebuild / baseline:.3f}; goal >= 20,000 events/s)"
        f"  runs: {', '.join(f'{r:,.0f}' for r in rebuilds)}"
    )
    print(f"  {rebuilding}")
    assert result is not None
    return result.generation


def measure_lookups(
    client: redis.Redis, keys: Keys, generation: str, args: argparse.Namespace
) -> None:
    """`schedule --source read-model` lookups, against a raw HGET of the same answer."""
    answers = ReadModel(client, keys).gen_key(generation, "now")
    source = Source("read-model", EventStore(client, keys), ReadModel(client, keys))
    rng = random.Random(7)
    ms = 1000.0
    p50s, p99s, raw50s, raw99s = [], [], [], []
    before = cpu_times()
    for run in range(args.runs):
        pids = [f"portfolio-{rng.randrange(args.portfolios)}" for _ in range(args.lookups)]
        days = [date(2000, 1, 1) + timedelta(days=rng.randrange(9000)) for _ in pids]
        ours: list[float] = []
        raw: list[float] = []
        for i, (pid, day) in enumerate(zip(pids, days, strict=True)):
            t = time.perf_counter()
            answer = schedule_on(source, pid, day, None)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            client.hget(answers, pid)
            raw.append(time.perf_counter() - t)
            if i == 0 and run == 0:
                assert answer["portfolio_id"] == pid
        ours, raw = ours[50:], raw[50:]  # warm-up: script cache, connection
        p50s.append(percentile(ours, 0.5) * ms)
        p99s.append(percentile(ours, 0.99) * ms)
        raw50s.append(percentile(raw, 0.5) * ms)
        raw99s.append(percentile(raw, 0.99) * ms)
    p50, p99 = statistics.median(p50s), statistics.median(p99s)
    raw50, raw99 = statistics.median(raw50s), statistics.median(raw99s)
    print(
        f"lookup (schedule --source read-model, {args.lookups} lookups x {args.runs} runs,"
        f" ~{args.events // args.portfolios} versions/portfolio):"
        f" p50 {p50:.3f} ms, p99 {p99:.3f} ms"
        f"  (raw HGET baseline p50 {raw50:.3f} ms, p99 {raw99:.3f} ms;"
        f" ratio p50 {p50 / raw50:.1f}x, p99 {p99 / raw99:.1f}x; goal p99 < 1 ms)"
        f"  runs p99: {', '.join(f'{x:.3f}' for x in p99s)}"
    )
    print(f"  {describe(before, cpu_times())}")


if __name__ == "__main__":
    sys.exit(main())
