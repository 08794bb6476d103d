"""A group of three portfolios priced on their combined assets by two real fee worker processes,
reports published with plain XADD in every order, one member's report late on some days (its
day priced provisionally, then adjusted), and a worker killed with SIGKILL three times.

Each member's amount for each day must equal what this test computes itself (the schedule on
the combined assets, shared by assets, cents by largest remainder, ties by portfolio id); each
day of each member is accrued once, and each provisional accrual adjusted exactly once.
"""

from __future__ import annotations

import json
import random
import signal
import time
import zlib
from collections import Counter
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import Target
from test_fee_worker_e2e import Worker, read_stream, report_fields, wait_until, worker_env

from contracts.messages import AgreementRegistered, AmendmentRecorded
from contracts.wire import encode

pytestmark = pytest.mark.e2e

MEMBERS = ("P1", "P2", "P3")
TIERS = [
    {"from": "0", "to": "1000000000", "rate_pct": "0.75"},
    {"from": "1000000000", "to": None, "rate_pct": "0.70"},
]
DAYS = [date(2024, 3, 4) + timedelta(days=i) for i in range(12)]
LATE = {DAYS[2], DAYS[7]}  # P3 reports these days late: they are priced without it first
CENT = Decimal("0.01")


def assets(pid: str, day: date) -> Decimal:
    return Decimal(300_000_000 + 100_000_000 * MEMBERS.index(pid) + 7_000_000 * day.day)


def shares(day: date) -> dict[str, Decimal]:
    """The members' cents of the group's fee of `day`, computed here."""
    navs = {pid: assets(pid, day) for pid in MEMBERS}
    combined = sum(navs.values(), Decimal(0))
    with localcontext() as ctx:
        ctx.prec = 60
        annual = min(combined, Decimal(10**9)) * Decimal("0.0075")
        annual += max(combined - Decimal(10**9), Decimal(0)) * Decimal("0.0070")
        fee = (annual / 365).quantize(CENT, rounding=ROUND_HALF_UP)
        exact = {pid: fee * nav / combined for pid, nav in navs.items()}
    floors = {pid: v.quantize(CENT, rounding=ROUND_DOWN) for pid, v in exact.items()}
    left = int((fee - sum(floors.values(), Decimal(0))) / CENT)
    for pid in sorted(MEMBERS, key=lambda p: (-(exact[p] - floors[p]), p))[:left]:
        floors[pid] += CENT
    return floors


def put_group(client: redis.Redis, log: str) -> None:
    client.xadd(log, encode(AgreementRegistered(agreement_id="AG")))  # type: ignore[arg-type]
    change = {"action": "group", "group_id": "G", "members": list(MEMBERS), "tiers": TIERS}
    amendment = AmendmentRecorded.model_validate(
        {
            "agreement_id": "AG",
            "amendment_number": 1,
            "effective_date": "2024-01-01",
            "changes": [change],
        }
    )
    client.xadd(log, encode(amendment))  # type: ignore[arg-type]


def put_members_alone(client: redis.Redis, log: str, effective: str) -> None:
    """The agreement, each member on its own schedule (the group's tiers) from `effective`."""
    client.xadd(log, encode(AgreementRegistered(agreement_id="AG")))  # type: ignore[arg-type]
    own = [
        {"action": "add", "portfolio_id": p, "portfolio_name": p, "tiers": TIERS} for p in MEMBERS
    ]
    first = {"agreement_id": "AG", "amendment_number": 1, "effective_date": effective}
    client.xadd(log, encode(AmendmentRecorded.model_validate({**first, "changes": own})))  # type: ignore[arg-type]


def record_group_from_march(client: redis.Redis, log: str) -> None:
    """Amendment No. 2: the members' group schedule from 2024-03-01."""
    change = {"action": "group", "group_id": "G", "members": list(MEMBERS), "tiers": TIERS}
    second = {"agreement_id": "AG", "amendment_number": 2, "effective_date": "2024-03-01"}
    client.xadd(log, encode(AmendmentRecorded.model_validate({**second, "changes": [change]})))  # type: ignore[arg-type]


def partition_tag(prefix: str, name: str, partitions: int) -> str:
    """The hash tag of a portfolio's (or a group's) partition, computed here: CRC-32 mod P."""
    if partitions == 1:
        return "{" + prefix + "}"
    return "{" + f"{prefix}:p{zlib.crc32(name.encode()) % partitions}" + "}"


class Outbox:
    """The accruals of every partition, read together."""

    def __init__(self, prefix: str, partitions: int) -> None:
        tags = ["{" + f"{prefix}:p{k}" + "}" for k in range(partitions)]
        if partitions == 1:
            tags = ["{" + prefix + "}"]
        self.streams = [f"{tag}:accruals" for tag in tags]

    def read(self, client: redis.Redis) -> list[tuple[str, dict[str, Any]]]:
        return [event for stream in self.streams for event in read_stream(client, stream)]


# With four partitions the members P1, P2, P3 hash to partitions 1, 3 and 1, the group G to 2:
# every member's report is published to its own partition and must be settled in G's.
@pytest.mark.parametrize("partitions", [1, 4])
def test_a_group_priced_by_two_workers_in_any_order_with_late_members_and_kills(
    target: Target, prefix: str, bus_client: redis.Redis, tmp_path: Path, partitions: int
) -> None:
    redis_client = bus_client
    log = "{" + prefix + "}:agreements"
    outbox = Outbox(prefix, partitions)
    put_group(redis_client, log)
    rng = random.Random(14)
    late_reports: list[tuple[str, dict[str, str]]] = []
    wait = {"FEES_GROUP_WAIT_MS": "800", "FEES_CLAIM_IDLE_MS": "1000", "FEES_BATCH_SIZE": "5"}
    wait["FEES_PARTITIONS"] = str(partitions)
    with worker_env(target.url, prefix, **target.env(), **wait) as env:
        workers = [
            Worker({**env, "FEES_CONSUMER": f"w{i}"}, tmp_path / f"w{i}.log") for i in (0, 1)
        ]
        try:
            for n, day in enumerate(DAYS):
                for pid in rng.sample(MEMBERS, 3):
                    fields = report_fields(pid, day, assets(pid, day))
                    inbox = partition_tag(prefix, pid, partitions) + ":net-assets"
                    if pid == "P3" and day in LATE:
                        late_reports.append((inbox, fields))
                    else:
                        redis_client.xadd(inbox, fields)  # type: ignore[arg-type]
                if n in (3, 6, 9):  # SIGKILL one worker mid-stream, then start it again
                    victim = rng.randrange(2)
                    time.sleep(rng.uniform(0.0, 0.3))
                    workers[victim].stop(signal.SIGKILL)
                    name = f"w{victim}"
                    workers[victim] = Worker(
                        {**env, "FEES_CONSUMER": name}, tmp_path / f"{name}.log"
                    )
            provisional = 2 * len(LATE)
            want = 3 * (len(DAYS) - len(LATE)) + provisional
            wait_until(lambda: _accrued(redis_client, outbox) >= want, 60, "the accruals")
            for inbox, fields in late_reports:
                redis_client.xadd(inbox, fields)  # type: ignore[arg-type]
            wait_until(
                lambda: _accrued(redis_client, outbox) >= 3 * len(DAYS), 60, "the late members"
            )
            wait_until(lambda: _adjusted(redis_client, outbox) >= provisional, 60, "adjustments")
        finally:
            for worker in workers:
                worker.stop()
    events = outbox.read(redis_client)
    accrued = Counter((e["portfolio_id"], e["as_of"]) for kind, e in events if kind == "FeeAccrued")
    assert set(accrued.values()) == {1} and len(accrued) == 3 * len(DAYS)  # each once
    adjusted = Counter(
        (e["portfolio_id"], e["as_of"]) for kind, e in events if kind == "FeeAdjusted"
    )
    expected = Counter((pid, d.isoformat()) for d in LATE for pid in ("P1", "P2"))
    assert adjusted == expected  # every provisional accrual adjusted exactly once
    for day in DAYS:
        for pid, cents in shares(day).items():
            # Every member's ledger is in the group's partition: one slot for the group's step.
            ledger = partition_tag(prefix, "G", partitions) + f":ledger:{pid}"
            entry: Any = json.loads(redis_client.hget(ledger, day.isoformat()))  # type: ignore[arg-type]
            assert Decimal(entry["amount"]) == cents, (pid, day)


def _accrued(client: redis.Redis, outbox: Outbox) -> int:
    return sum(1 for kind, _ in outbox.read(client) if kind == "FeeAccrued")


def _adjusted(client: redis.Redis, outbox: Outbox) -> int:
    return sum(1 for kind, _ in outbox.read(client) if kind == "FeeAdjusted")


def test_reports_parked_before_their_group_was_recorded_are_priced_in_its_partition(
    target: Target, prefix: str, bus_client: redis.Redis, tmp_path: Path
) -> None:
    """Four partitions. The members are on the agreement from June only, so their March reports
    wait unpriced, each in its own partition; then the group is recorded from March 1: every
    waiting report goes to the group's partition and its day is priced there, as a group."""
    redis_client = bus_client
    log, partitions = "{" + prefix + "}:agreements", 4
    outbox = Outbox(prefix, partitions)
    put_members_alone(redis_client, log, "2024-06-01")
    days = DAYS[:5]
    with worker_env(target.url, prefix, **target.env(), FEES_PARTITIONS=str(partitions)) as env:
        worker = Worker(env, tmp_path / "w.log")
        try:
            for day in days:
                for pid in MEMBERS:
                    inbox = partition_tag(prefix, pid, partitions) + ":net-assets"
                    redis_client.xadd(inbox, report_fields(pid, day, assets(pid, day)))  # type: ignore[arg-type]
            parked = [partition_tag(prefix, p, partitions) + ":unpriced" for p in ("P1", "P2")]
            wait_until(
                lambda: sum(int(redis_client.hlen(k)) for k in set(parked)) == 3 * len(days),
                30,
                "the reports parked in the members' partitions",
            )
            record_group_from_march(redis_client, log)
            wait_until(lambda: _accrued(redis_client, outbox) >= 3 * len(days), 30, "accruals")
        finally:
            assert worker.stop() == 0
    home = partition_tag(prefix, "G", partitions)
    for day in days:
        for pid, cents in shares(day).items():
            entry: Any = json.loads(redis_client.hget(f"{home}:ledger:{pid}", day.isoformat()))  # type: ignore[arg-type]
            assert Decimal(entry["amount"]) == cents, (pid, day)
    assert not any(redis_client.hlen(k) for k in parked)  # none left waiting where it was


def test_a_group_recorded_over_days_priced_alone_in_other_partitions_reprices_them(
    target: Target, prefix: str, bus_client: redis.Redis, tmp_path: Path
) -> None:
    """Four partitions, two workers. The members are priced alone first, each in its own
    partition (P1 and P3 in 1, P2 in 3); then the group is recorded from March 1: every member's
    days are adjusted where they are to its share of the group's fee (reason amendment), each
    partition reading the other members' net assets from theirs."""
    redis_client = bus_client
    log, partitions = "{" + prefix + "}:agreements", 4
    outbox = Outbox(prefix, partitions)
    put_members_alone(redis_client, log, "2024-01-01")
    days = DAYS[:4]
    env_vars = {"FEES_PARTITIONS": str(partitions)}
    with worker_env(target.url, prefix, **target.env(), **env_vars) as env:
        workers = [
            Worker({**env, "FEES_CONSUMER": f"w{i}"}, tmp_path / f"w{i}.log") for i in (0, 1)
        ]
        try:
            for day in days:
                for pid in MEMBERS:
                    inbox = partition_tag(prefix, pid, partitions) + ":net-assets"
                    redis_client.xadd(inbox, report_fields(pid, day, assets(pid, day)))  # type: ignore[arg-type]
            wait_until(lambda: _accrued(redis_client, outbox) >= 3 * len(days), 30, "accruals")
            record_group_from_march(redis_client, log)
            wait_until(lambda: _adjusted(redis_client, outbox) >= 3 * len(days), 30, "adjusted")
            time.sleep(0.5)  # an adjustment made twice would show by now
        finally:
            for worker in workers:
                assert worker.stop() == 0
    events = outbox.read(redis_client)
    adjusted = Counter(
        (e["portfolio_id"], e["as_of"]) for kind, e in events if kind == "FeeAdjusted"
    )
    assert adjusted == Counter((p, d.isoformat()) for d in days for p in MEMBERS)
    assert {e["reason"] for kind, e in events if kind == "FeeAdjusted"} == {"amendment"}
    for day in days:
        for pid, cents in shares(day).items():
            ledger = partition_tag(prefix, pid, partitions) + f":ledger:{pid}"
            entry: Any = json.loads(redis_client.hget(ledger, day.isoformat()))  # type: ignore[arg-type]
            assert Decimal(entry["amount"]) == cents, (pid, day)
            assert entry["group"] is not None
