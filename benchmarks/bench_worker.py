"""Fee worker throughput against an independent plain redis-py loop doing the same job.

    python -m benchmarks.bench_worker [--reports 100000] [--portfolios 50] [--batch 500]
                                      [--chunk 10000] [--runs 3] [--workers 2 --partitions 4]
                                      [--cluster] [--interpreted]

Sides, each run as processes over the same N net-asset reports (plain wire entries):
  plain x1      benchmarks/plain_loop.py: XREADGROUP COUNT 500 -> json.loads -> its own
                three-band Decimal fee -> a FeeAccrued-complete JSON event -> XADD + ledger
                HSET + XACK, one pipeline per batch; no guarantees. It shares no code with
                the service.
  worker x1     the real worker (`feeschedule run fee-worker`, this checkout's code as the
                compiled build has it, setup.py's FEES_COMPILE=1; --interpreted: its sources
                as they are): exactly-once effects, one Lua step per batch part.
  worker xN P   N worker processes with FEES_PARTITIONS=P, the reports published straight to
                their partition streams (contracts.partitions.partition_of); and plain xN P,
                N copies of the plain loop, each on its own partitions (only when N or P > 1).
The reports go in chunks of --chunk, to every side in turn, the order reversed every chunk
(a b c, c b a, a b c, ...); each chunk is appended in one MULTI/EXEC while the side's processes
are frozen (SIGSTOP), and timed from their SIGCONT to the side's last FeeAccrued; every other
side stays frozen meanwhile. So a machine that speeds up or slows down during the run (a shared
VM does, by 1.5-2x within minutes) weighs on every side alike. Each run uses throwaway
prefixes, checks that every side wrote the same ledger entries and (but for occurred_at) the
same FeeAccrued events, and deletes its keys. It prints each run's rates and the medians of
the ratios over the runs: one worker / one plain loop, N workers / one worker, N workers /
N plain loops, and N plain loops / one plain loop (what N processes gain on this machine with
no code of ours: the ceiling of N workers / one worker). A ratio is the other side's time over
this side's: >= 1 is as fast.

Redis: FEES_REDIS_URL, else REDIS_URL, else an embedded redis-server; --cluster: a local
three-master Redis Cluster it starts from the machine's redis-server (tests/cluster.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import redis
import redis.cluster

from benchmarks.machine import cpu_times, describe
from contracts.messages import AgreementRegistered, AmendmentRecorded
from contracts.partitions import partition_of
from contracts.wire import encode
from services.adapters.keys import Keys
from tests.cluster import Target, local_cluster
from tests.compiled import CompileFailed, compiled_build

TIERS = [
    {"from": "0", "to": "500000000", "rate_pct": "0.88"},
    {"from": "500000000", "to": "1000000000", "rate_pct": "0.83"},
    {"from": "1000000000", "to": None, "rate_pct": "0.78"},
]
# This checkout: the processes the benchmark starts run its code (from its directory, or the
# directory of its compiled build, with that first on PYTHONPATH), whatever `feeschedule` is on
# PATH or the current directory holds.
ROOT = Path(__file__).resolve().parents[1]
WORKER = [
    sys.executable,
    "-c",
    "import sys; from services.cli import main; sys.argv[0] = 'feeschedule'; main()",
    "run",
    "fee-worker",
]
READY_SECONDS = 60


@contextmanager
def redis_target(cluster: bool) -> Iterator[Target]:
    """`--cluster`: a local three-master cluster started from the machine's redis-server (the
    tests' starter, tests/cluster.py), killed at the end; else the Redis of `redis_url`."""
    if cluster:
        with local_cluster(masters=3) as started:
            yield Target(started.url, cluster=True)
        return
    with redis_url() as url:
        yield Target(url)


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
            "net_assets": str(Decimal(rng.randrange(1, 3_000_000_000_00)).scaleb(-2)),
        }
        out.append({"type": "NetAssetsReported", "event_id": f"e{i}", "data": json.dumps(data)})
    return out


def _fields(fields: dict[str, str]) -> Any:
    # redis-py types stream fields as a dict of a wide union; plain text fields are fine.
    return fields


@dataclass
class Side:
    """Processes of one kind (the plain loop or the worker) on P partitions, with their keys."""

    kind: str  # "plain" or "worker"
    processes: int
    partitions: int
    keys: Keys
    code: Path = ROOT  # where its processes import this checkout's code from
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    delivered: int = 0

    @property
    def name(self) -> str:
        shape = f" P={self.partitions}" if self.partitions > 1 else ""
        return f"{self.kind} x{self.processes}{shape}"

    @property
    def lanes(self) -> list[Keys]:
        return self.keys.lanes(self.partitions)

    def lane_of(self, portfolio_id: str) -> Keys:
        return self.lanes[partition_of(portfolio_id, self.partitions)]

    def consumer(self, j: int) -> str:
        return f"bench-{self.kind}-{j}"

    def commands(self, target: Target, batch: int) -> list[tuple[list[str], dict[str, str]]]:
        """Each process's command line and environment."""
        base = {**os.environ, **target.env(), "PYTHONPATH": python_path(self.code)}
        out = []
        for j in range(self.processes):
            if self.kind == "worker":
                env = base | {
                    "FEES_PREFIX": self.keys.prefix,
                    "FEES_BATCH_SIZE": str(batch),
                    "FEES_CONSUMER": self.consumer(j),
                    "FEES_PARTITIONS": str(self.partitions),
                }
                out.append((WORKER, env))
                continue
            mine = [k for k in range(self.partitions) if k % self.processes == j]
            lanes = [self.lanes[k] for k in mine or [j % self.partitions]]
            command = [sys.executable, "-m", "benchmarks.plain_loop", "--redis", target.url]
            command += ["--agreements", self.keys.agreements, "--group", Keys.fee_worker_group]
            command += ["--consumer", self.consumer(j), "--batch", str(batch)]
            command += ["--cluster"] if target.cluster else []
            for lane in lanes:
                command += ["--lane", lane.net_assets, lane.accruals, lane.ledger("")]
            out.append((command, base))
        return out

    def start(self, target: Target, batch: int) -> None:
        for command, env in self.commands(target, batch):
            # The process's own output, shown if it fails; closed by `stop`.
            log = tempfile.TemporaryFile()  # noqa: SIM115
            self.logs.append(log)
            process = subprocess.Popen(
                command, env=env, cwd=self.code, stdout=log, stderr=subprocess.STDOUT
            )
            self.running.append(process)

    def check_alive(self) -> None:
        for process, log in zip(self.running, self.logs, strict=True):
            if process.poll() is not None:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name}: exited with {process.returncode}\n{tail}")

    def ready(self, client: redis.Redis) -> bool:
        """Every partition's group has a consumer, and every process has joined one."""
        joined: set[str] = set()
        for lane in self.lanes:
            consumers: Any = client.xinfo_consumers(lane.net_assets, Keys.fee_worker_group)
            if not consumers:
                return False
            joined.update(_text(c["name"]) for c in consumers)
        return all(
            any(name.startswith(self.consumer(j)) for name in joined) for j in range(self.processes)
        )

    def signal(self, sig: signal.Signals) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(sig)

    def stop(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()

    def accrued(self, client: redis.Redis) -> int:
        pipe = client.pipeline(transaction=False)
        for lane in self.lanes:
            pipe.xlen(lane.accruals)
        return sum(pipe.execute())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def agreement(portfolios: int) -> tuple[AgreementRegistered, AmendmentRecorded]:
    """The benchmark's agreement, and its amendment adding portfolios P000.. on TIERS. Its
    event ids are fixed, so every side's events name the same schedule_ref."""
    registered = AgreementRegistered(agreement_id="BENCH", event_id="bench-registered")
    amendment = AmendmentRecorded.model_validate(
        {
            "event_id": "bench-amendment-1",
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
    return registered, amendment


def set_up(client: redis.Redis, side: Side, portfolios: int) -> None:
    """The agreement and its schedules at fixed log ids (so the sides compare), and the
    consumer groups on empty input streams."""
    keys = side.keys
    registered, amendment = agreement(portfolios)
    client.xadd(keys.agreements, _fields(encode(registered)), id="1-1")
    client.xadd(keys.agreements, _fields(encode(amendment)), id="1-2")
    for lane in side.lanes:
        client.xgroup_create(lane.net_assets, Keys.fee_worker_group, id="0", mkstream=True)


def deliver(client: redis.Redis, side: Side, entries: list[tuple[str, dict[str, str]]]) -> None:
    """A chunk of reports to their partitions, in one transaction per partition (one slot each,
    as a cluster requires) so that it arrives at once."""
    by_lane: dict[str, list[dict[str, str]]] = {}
    for pid, fields in entries:
        by_lane.setdefault(side.lane_of(pid).net_assets, []).append(fields)
    for stream, lane_entries in by_lane.items():
        pipe = client.pipeline(transaction=True)
        for fields in lane_entries:
            pipe.xadd(stream, _fields(fields))
        pipe.execute()


def turn(client: redis.Redis, side: Side, chunk: list[tuple[str, dict[str, str]]]) -> None:
    """One chunk through one side: appended while it is frozen, timed from its resumption to
    its last FeeAccrued, frozen again."""
    deliver(client, side, chunk)
    side.delivered += len(chunk)
    started = time.perf_counter()
    side.signal(signal.SIGCONT)
    checked = started
    while side.accrued(client) < side.delivered:
        time.sleep(0.002)
        if time.perf_counter() - checked > 1:
            side.check_alive()
            checked = time.perf_counter()
    side.seconds.append(time.perf_counter() - started)
    side.signal(signal.SIGSTOP)


def start_all(client: redis.Redis, target: Target, sides: list[Side], batch: int) -> list[Side]:
    """Start every side's processes and wait until they are ready; a side whose processes do
    not join its partitions' groups in time is left out (its reason printed), then all are
    frozen."""
    for side in sides:
        side.start(target, batch)
    deadline = time.monotonic() + READY_SECONDS
    waiting = list(sides)
    left_out = []
    while waiting:
        for side in list(waiting):
            side.check_alive()
            if side.ready(client):
                waiting.remove(side)
        if waiting and time.monotonic() > deadline:
            for side in waiting:
                print(
                    f"{side.name}: left out, its processes did not join the consumer groups of"
                    f" its {side.partitions} partition streams within {READY_SECONDS} s"
                    " (does this code's worker serve FEES_PARTITIONS?)",
                    file=sys.stderr,
                )
                side.stop()
                left_out.append(side)
            break
        time.sleep(0.05)
    ready = [s for s in sides if s not in left_out]
    for side in ready:
        side.signal(signal.SIGSTOP)
    return ready


def same_results(client: redis.Redis, sides: list[Side]) -> None:
    """Every side wrote the same ledger entries for P000, and the same FeeAccrued events but
    for their time, for the first reports."""

    def events(side: Side) -> dict[str, dict[str, Any]]:
        rows: Any = client.xrange(side.lane_of("P000").accruals, count=2000)
        out = {}
        for _, fields in rows:
            data = json.loads(fields[b"data"])
            del data["occurred_at"]
            out[data["accrual_id"]] = data
        return out

    first, *others = sides
    ledger: Any = client.hgetall(first.lane_of("P000").ledger("P000"))
    expected = events(first)
    for side in others:
        theirs: Any = client.hgetall(side.lane_of("P000").ledger("P000"))
        if theirs != ledger:
            raise AssertionError(f"{side.name} and {first.name} wrote different ledgers")
        got = events(side)
        common = expected.keys() & got.keys()
        if not common or any(expected[k] != got[k] for k in common):
            raise AssertionError(f"{side.name} and {first.name} emitted different FeeAccrued")


def measure(
    target: Target, sides: list[Side], entries: list[dict[str, str]], portfolios: int, args: Any
) -> list[Side]:
    """One run: every side takes every chunk, in turn; returns the sides that ran."""
    client = target.client()
    try:
        for side in sides:
            set_up(client, side, portfolios)
        routed = [(json.loads(e["data"])["portfolio_id"], e) for e in entries]
        ran = start_all(client, target, sides, args.batch)
        try:
            for i, start in enumerate(range(0, len(routed), args.chunk)):
                for side in ran if i % 2 == 0 else ran[::-1]:
                    turn(client, side, routed[start : start + args.chunk])
            for side in ran:
                assert side.accrued(client) == len(entries), side.name
            per_portfolio = -(-len(entries) // portfolios)
            for side in ran:
                lane = side.lane_of("P000")
                assert client.hlen(lane.ledger("P000")) == per_portfolio, side.name
            same_results(client, ran)
        finally:
            for side in sides:
                side.stop()
        return ran
    finally:
        clean(client, *(s.keys.prefix for s in sides))
        client.close()


def clean(client: redis.Redis, *prefixes: str) -> None:
    for prefix in prefixes:
        for pattern in ("{" + prefix + "}:*", "{" + prefix + ":p*}:*"):
            for key in client.scan_iter(match=pattern, count=1000):
                client.delete(key)


def ratio(sides: dict[str, Side], slow: str, fast: str) -> float | None:
    """Time of `slow` over time of `fast` (>= 1: `fast` is as fast), if both ran."""
    if slow not in sides or fast not in sides:
        return None
    return sum(sides[slow].seconds) / sum(sides[fast].seconds)


def python_path(code: Path) -> str:
    """PYTHONPATH for a process that imports this checkout from `code`, before anything else."""
    return os.pathsep.join(p for p in (str(code), os.environ.get("PYTHONPATH")) if p)


def worker_code(interpreted: bool) -> Path:
    """Where the workers import this checkout from: its compiled build (made, or found made),
    or with --interpreted the checkout itself."""
    if interpreted:
        print("worker code        this checkout's sources, interpreted (--interpreted)")
        return ROOT
    try:
        build = compiled_build()
    except CompileFailed as exc:
        sys.exit(f"{exc}\n(--interpreted measures the sources as they are)")
    print(f"worker code        this checkout, compiled (setup.py FEES_COMPILE=1): {build}")
    return build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--portfolios", type=int, default=50)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--chunk", type=int, default=10_000, help="reports per turn")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="N of the scaled sides")
    parser.add_argument("--partitions", type=int, default=4, help="P of the scaled sides")
    parser.add_argument(
        "--cluster", action="store_true", help="on a local three-master Redis Cluster"
    )
    parser.add_argument(
        "--interpreted", action="store_true", help="the workers on the sources, not compiled"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    entries = reports(args.reports, args.portfolios)
    n, p = args.workers, args.partitions
    scaled = (n, p) != (1, 1)
    print(
        f"reports            {args.reports:,} ({args.portfolios} portfolios, batch"
        f" {args.batch}, chunks of {args.chunk:,}), {args.runs} runs"
    )
    code = worker_code(args.interpreted)
    ratios: dict[str, list[float]] = {}
    with redis_target(args.cluster) as target:
        before = cpu_times()
        for run in range(1, args.runs + 1):
            tag = uuid.uuid4().hex[:8]
            shapes = [("plain", 1, 1), ("worker", 1, 1)]
            if scaled:
                shapes += [("worker", n, p), ("plain", n, p)]
            sides = [
                Side(kind, k, parts, Keys(f"bench-{tag}-{i}"), code if kind == "worker" else ROOT)
                for i, (kind, k, parts) in enumerate(shapes)
            ]
            ran = {s.name: s for s in measure(target, sides, entries, args.portfolios, args)}
            shown = "  ".join(
                f"{name} {args.reports / sum(s.seconds):,.0f}/s" for name, s in ran.items()
            )
            print(f"run {run}: {shown}")
            wide = f"worker x{n}" + (f" P={p}" if p > 1 else "")
            plain_wide = f"plain x{n}" + (f" P={p}" if p > 1 else "")
            pairs = [("one worker / one plain loop", "plain x1", "worker x1")]
            if scaled:
                pairs += [
                    (f"{wide} / one worker", "worker x1", wide),
                    (f"{wide} / {plain_wide}", plain_wide, wide),
                    (f"{plain_wide} / one plain loop", "plain x1", plain_wide),
                ]
            for label, slow, fast in pairs:
                value = ratio(ran, slow, fast)
                if value is not None:
                    ratios.setdefault(label, []).append(value)
        machine = describe(before, cpu_times())
    print(f"medians of {args.runs} runs (a ratio >= 1.00: as fast as the side it is over)")
    for label, values in ratios.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {label:<36} {statistics.median(values):.2f}  (runs: {each})")
    print(machine)


if __name__ == "__main__":
    main()
