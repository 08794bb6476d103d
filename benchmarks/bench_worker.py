"""Fee worker throughput against a raw redis-py loop doing the same job without guarantees.

    python -m benchmarks.bench_worker [--reports 100000] [--portfolios 50] [--batch 500]
                                      [--chunk 10000]

In one run, over the same N net-asset reports (plain wire entries):
  (a) raw loop: XREADGROUP 500 -> validate -> fee -> XADD FeeAccrued -> XACK, one pipeline per
      batch; no ledger, no dedupe, no dead letters, no recovery, no late-knowledge checks;
  (b) the real worker, `feeschedule run fee-worker` (FastStream batch subscriber + one Lua
      step per batch part: ledger, dedupe, events and XACK atomically), started before the
      first chunk; a chunk is timed from its arrival until its last FeeAccrued.
The reports go in chunks, alternately to (a) and (b) in the order a b b a a b b a ..., each
chunk appended in one MULTI/EXEC so that it arrives at once; the worker is frozen (SIGSTOP)
while (a) runs. So a machine that speeds up or slows down during the run (a shared VM does,
by 1.5-2x within minutes) weighs on both sides alike. The ratio b/a compares total times.
Uses throwaway prefixes and deletes their keys afterwards.
Redis: FEES_REDIS_URL, else REDIS_URL, else an embedded redis-server.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import redis

from benchmarks.machine import console_script, cpu_times, describe
from contracts.messages import AgreementRegistered, AmendmentRecorded
from contracts.wire import encode
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.app.pricing import Pricer, fee_accrued, read_report
from services.domain.book import ScheduleBook
from services.mapping import apply_to_book

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


def set_up(client: redis.Redis, keys: Keys, portfolios: int) -> None:
    """The agreement and its schedules, and the consumer group on an empty input stream."""
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
    client.xgroup_create(keys.net_assets, Keys.fee_worker_group, id="0", mkstream=True)


def deliver(client: redis.Redis, keys: Keys, entries: list[dict[str, str]]) -> None:
    """A chunk of reports, appended in one transaction so that it arrives all at once."""
    pipe = client.pipeline(transaction=True)
    for fields in entries:
        pipe.xadd(keys.net_assets, _fields(fields))
    pipe.execute()


class RawLoop:
    """(a): the same job with redis-py alone, no guarantees."""

    def __init__(self, client: redis.Redis, keys: Keys, batch: int) -> None:
        self.client, self.keys, self.batch = client, keys, batch
        book = ScheduleBook()
        for position, message in EventStore(client, keys).read():
            apply_to_book(book, message, position)
        self.pricer = Pricer(book, keys.net_assets)

    def run(self, n: int) -> float:
        """Seconds to take n new reports through."""
        client, keys = self.client, self.keys
        started = time.perf_counter()
        done = 0
        while done < n:
            reply: Any = client.xreadgroup(
                Keys.fee_worker_group, "raw", {keys.net_assets: ">"}, count=self.batch
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
                priced = self.pricer.price(
                    report.portfolio_id, report.as_of, report.net_assets, report.accrual_days
                )
                if priced is not None:
                    period, ref = priced
                    accrued = fee_accrued(report, period.accrual, ref)
                    pipe.xadd(keys.accruals, _fields(encode(accrued)))
            pipe.xack(keys.net_assets, Keys.fee_worker_group, *ids)
            pipe.execute()
            done += len(ids)
        return time.perf_counter() - started


def until_accrued(
    client: redis.Redis, keys: Keys, total: int, worker: subprocess.Popen[bytes]
) -> None:
    """Wait for the worker's `total`-th FeeAccrued."""
    while client.xlen(keys.accruals) < total:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with status {worker.returncode}")
        time.sleep(0.005)


def measure(
    url: str, keys: dict[str, Keys], entries: list[dict[str, str]], batch: int, chunk: int
) -> dict[str, list[float]]:
    """Seconds each chunk took, per side. The worker is `feeschedule run fee-worker`, frozen
    (SIGSTOP) while the raw loop has its turn, so neither takes CPU from the other."""
    env = {
        **os.environ,
        "FEES_REDIS_URL": url,
        "FEES_PREFIX": keys["b"].prefix,
        "FEES_BATCH_SIZE": str(batch),
        "FEES_CONSUMER": "bench",
    }
    script = console_script()
    client = redis.Redis.from_url(url)
    raw = RawLoop(client, keys["a"], batch)
    seconds: dict[str, list[float]] = {"a": [], "b": []}
    with tempfile.TemporaryFile() as log:  # the worker's own log, shown if it fails
        worker = subprocess.Popen(
            [script, "run", "fee-worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            # Ready when FastStream's consumer has joined the group.
            while not client.xinfo_consumers(keys["b"].net_assets, Keys.fee_worker_group):
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited with status {worker.returncode}")
                time.sleep(0.05)
            accrued = 0
            for i, start in enumerate(range(0, len(entries), chunk)):
                part = entries[start : start + chunk]
                for side in ("a", "b") if i % 2 == 0 else ("b", "a"):
                    if side == "a":
                        worker.send_signal(signal.SIGSTOP)
                        deliver(client, keys["a"], part)
                        seconds["a"].append(raw.run(len(part)))
                        worker.send_signal(signal.SIGCONT)
                    else:
                        deliver(client, keys["b"], part)
                        started = time.perf_counter()
                        until_accrued(client, keys["b"], accrued + len(part), worker)
                        seconds["b"].append(time.perf_counter() - started)
                        accrued += len(part)
        except BaseException:
            log.seek(0)
            print(log.read().decode(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            worker.send_signal(signal.SIGCONT)
            worker.terminate()
            worker.wait(timeout=30)
            client.close()
    return seconds


def clean(client: redis.Redis, *prefixes: str) -> None:
    for prefix in prefixes:
        for key in client.scan_iter(match="{" + prefix + "}:*", count=1000):
            client.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--portfolios", type=int, default=50)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--chunk", type=int, default=10_000, help="reports per alternation")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    entries = reports(args.reports, args.portfolios)
    run = uuid.uuid4().hex[:8]
    keys = {side: Keys(f"bench-{run}-{side}") for side in "ab"}
    print(f"reports            {args.reports:,} ({args.portfolios} portfolios, batch {args.batch})")
    with redis_url() as url:
        client = redis.Redis.from_url(url)
        before = cpu_times()
        try:
            for side in "ab":
                set_up(client, keys[side], args.portfolios)
            seconds = measure(url, keys, entries, args.batch, args.chunk)
            for side in "ab":  # every report accrued once, on both sides
                assert client.xlen(keys[side].accruals) == args.reports
            per_portfolio = -(-args.reports // args.portfolios)
            assert client.hlen(keys["b"].ledger("P000")) == per_portfolio
        finally:
            clean(client, *(k.prefix for k in keys.values()))
            client.close()
        machine = describe(before, cpu_times())
    a = args.reports / sum(seconds["a"])
    b = args.reports / sum(seconds["b"])
    chunks = len(seconds["a"])
    print(f"(a) raw redis-py   {a:,.0f} reports/s  ({sum(seconds['a']):.2f} s, {chunks} chunks)")
    print(f"(b) fee worker     {b:,.0f} reports/s  ({sum(seconds['b']):.2f} s, {chunks} chunks)")
    pairs = sorted(ta / tb for ta, tb in zip(seconds["a"], seconds["b"], strict=True))
    print(f"ratio b/a          {b / a:.2f}  (chunk by chunk {pairs[0]:.2f} to {pairs[-1]:.2f})")
    print(machine)


if __name__ == "__main__":
    main()
