"""A recomputation of a large complex's history after a retroactive amendment.

    python -m benchmarks.bench_recompute [--portfolios 500] [--days 2000] [--workers 2]
                                         [--partitions 4] [--interpreted]

Sets up `portfolios x days` accruals the real way (an agreement on the log, one report per
portfolio and day published to its partition, N `feeschedule run fee-worker` processes pricing
them, on this checkout's compiled build as bench_worker runs it, or with --interpreted on its
sources), then records Amendment No. 2, effective on the first day, repricing every portfolio, and
times how long the workers take to adjust every accrual: from the XADD of the amendment until
every accrual has its FeeAdjusted and every partition's checkpoint is the amendment. Prints the
time and the rate, and checks a sample of the new amounts against its own three-band fee.
Uses a throwaway prefix and deletes its keys afterwards.
Redis: FEES_REDIS_URL, else REDIS_URL, else an embedded redis-server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import redis
from rich.progress import Progress

from benchmarks.bench_worker import WORKER, python_path, redis_url, worker_code
from benchmarks.machine import cpu_times, describe
from contracts.messages import AgreementRegistered, AmendmentRecorded
from contracts.wire import encode

BEFORE = [
    ("0", "500000000", "0.88"),
    ("500000000", "1000000000", "0.83"),
    ("1000000000", None, "0.78"),
]
AFTER = [("0", "500000000", "0.80"), ("500000000", None, "0.75")]
FIRST_DAY = date(2015, 1, 1)


def tiers(bands: list[tuple[str, str | None, str]]) -> list[dict[str, str | None]]:
    return [{"from": lo, "to": hi, "rate_pct": rate} for lo, hi, rate in bands]


def fee(bands: list[tuple[str, str | None, str]], assets: Decimal) -> Decimal:
    """A day's fee (ACT/365F, half up to the cent), computed here."""
    annual = Decimal(0)
    for lo, hi, rate in bands:
        top = assets if hi is None else min(assets, Decimal(hi))
        if top > Decimal(lo):
            annual += (top - Decimal(lo)) * Decimal(rate) / 100
    return (annual / 365).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class Layout:
    """The throwaway prefix's key names, computed here (CRC-32 mod P, as contracts/README)."""

    def __init__(self, prefix: str, partitions: int) -> None:
        self.prefix, self.partitions = prefix, partitions
        self.log = "{" + prefix + "}:agreements"

    def tag(self, k: int) -> str:
        return "{" + prefix_tag(self.prefix, k, self.partitions) + "}"

    def inbox(self, pid: str) -> str:
        return self.tag(zlib.crc32(pid.encode()) % self.partitions) + ":net-assets"

    def count(self, client: redis.Redis, stream: str) -> int:
        return sum(int(client.xlen(f"{self.tag(k)}:{stream}")) for k in range(self.partitions))  # type: ignore[arg-type]

    def checkpoints(self, client: redis.Redis) -> set[str]:
        keys = [f"{self.tag(k)}:fee-worker:log-position" for k in range(self.partitions)]
        return {(client.get(key) or b"").decode() for key in keys}  # type: ignore[union-attr]


def prefix_tag(prefix: str, k: int, partitions: int) -> str:
    return prefix if partitions == 1 else f"{prefix}:p{k}"


def publish(client: redis.Redis, layout: Layout, pids: list[str], days: int) -> dict[str, Decimal]:
    """One report per portfolio and day; returns a sample of their net assets."""
    rng = random.Random(2000)
    sample: dict[str, Decimal] = {}
    with Progress(transient=True) as progress:
        task = progress.add_task("publishing reports", total=len(pids) * days)
        for d in range(days):
            day = (FIRST_DAY + timedelta(days=d)).isoformat()
            pipe = client.pipeline(transaction=False)
            for pid in pids:
                assets = Decimal(rng.randrange(0, 2_000_000_000_00)).scaleb(-2)
                if rng.random() < 0.001:
                    sample[f"{pid}:{day}"] = assets
                data = {
                    "type": "NetAssetsReported",
                    "event_id": f"{pid}-{day}",
                    "report_id": f"{pid}-{day}",
                    "portfolio_id": pid,
                    "as_of": day,
                    "net_assets": str(assets),
                }
                fields = {"type": "NetAssetsReported", "event_id": data["event_id"]}
                pipe.xadd(layout.inbox(pid), {**fields, "data": json.dumps(data)})  # type: ignore[arg-type]
            pipe.execute()
            progress.advance(task, len(pids))
    return sample


def wait_for(what: str, total: int, done: Any, timeout: float = 3600) -> float:
    """Seconds until `done()` reaches `total`, with a progress bar."""
    started = time.perf_counter()
    with Progress(transient=True) as progress:
        task = progress.add_task(what, total=total)
        while (reached := done()) < total:
            progress.update(task, completed=reached)
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"timed out: {what} at {reached} of {total}")
            time.sleep(0.2)
    return time.perf_counter() - started


def record(client: redis.Redis, layout: Layout, pids: list[str], number: int, bands: Any) -> None:
    action = "add" if number == 1 else "revise"
    amendment = AmendmentRecorded.model_validate(
        {
            "agreement_id": "BIG",
            "amendment_number": number,
            "effective_date": FIRST_DAY.isoformat(),
            "changes": [
                {"action": action, "portfolio_id": p, "portfolio_name": p, "tiers": tiers(bands)}
                for p in pids
            ],
        }
    )
    client.xadd(layout.log, encode(amendment))  # type: ignore[arg-type]


def start_workers(
    url: str, layout: Layout, n: int, logs: str, code: Path
) -> list[subprocess.Popen[bytes]]:
    """N `feeschedule run fee-worker` processes on this checkout's code as `code` holds it."""
    env = {
        **os.environ,
        "PYTHONPATH": python_path(code),
        "FEES_REDIS_URL": url,
        "FEES_PREFIX": layout.prefix,
        "FEES_PARTITIONS": str(layout.partitions),
        "FEES_BLOCK_MS": "100",
    }
    return [
        subprocess.Popen(
            WORKER,
            env={**env, "FEES_CONSUMER": f"w{i}"},
            cwd=code,
            stdout=open(os.path.join(logs, f"w{i}.log"), "wb"),
            stderr=subprocess.STDOUT,
        )
        for i in range(n)
    ]


def check(client: redis.Redis, layout: Layout, sample: dict[str, Decimal]) -> None:
    for key, assets in sample.items():
        pid, day = key.split(":")
        ledger = layout.inbox(pid).replace(":net-assets", f":ledger:{pid}")
        entry = json.loads(client.hget(ledger, day))  # type: ignore[arg-type]
        if Decimal(entry["amount"]) != fee(AFTER, assets):
            raise SystemExit(f"{key}: {entry['amount']} is not {fee(AFTER, assets)}")


def run(url: str, portfolios: int, days: int, workers: int, partitions: int, code: Path) -> None:
    client = redis.Redis.from_url(url)
    layout = Layout(f"rc{uuid.uuid4().hex[:8]}", partitions)
    pids = [f"C{p:04d}" for p in range(portfolios)]
    total = portfolios * days
    client.xadd(layout.log, encode(AgreementRegistered(agreement_id="BIG")))  # type: ignore[arg-type]
    record(client, layout, pids, 1, BEFORE)
    sample = publish(client, layout, pids, days)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as logs:
            procs = start_workers(url, layout, workers, logs, code)
            priced = wait_for("pricing", total, lambda: layout.count(client, "accruals"))
            print(f"priced {total:,} reports in {priced:.1f} s ({total / priced:,.0f}/s)")
            before = cpu_times()
            record(client, layout, pids, 2, AFTER)
            position = client.xrevrange(layout.log, count=1)[0][0].decode()  # type: ignore[index]
            took = wait_for("adjusting", 2 * total, lambda: layout.count(client, "accruals"))
            while layout.checkpoints(client) != {position}:
                time.sleep(0.05)
            took = max(took, 0.0)
            print(
                f"recomputed {total:,} accruals after a retroactive amendment in {took:.1f} s"
                f" ({total / took:,.0f}/s) with {workers} workers, {partitions} partitions"
            )
            print(describe(before, cpu_times()))
            check(client, layout, sample)
            print(f"checked {len(sample)} sampled amounts against the benchmark's own fee")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        for key in client.scan_iter(match=f"*{layout.prefix}*", count=10_000):
            client.delete(key)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--portfolios", type=int, default=500)
    parser.add_argument("--days", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--interpreted", action="store_true", help="the workers on the sources, not compiled"
    )
    args = parser.parse_args()
    code = worker_code(args.interpreted)
    with redis_url() as url:
        run(url, args.portfolios, args.days, args.workers, args.partitions, code)


if __name__ == "__main__":
    sys.exit(main())
