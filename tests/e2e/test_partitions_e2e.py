"""Partitioned intake end to end: `FEES_PARTITIONS=4`, two real fee worker processes.

Reports go in with plain XADD to the partition stream this test computes itself (CRC-32 of the
portfolio id mod 4, with zlib, not the project's function), a few to the unpartitioned stream
(the workers route those); fees come back from every partition's accruals stream. Each report is
accrued exactly once, every amount equals the test's own calculation, an amendment adjusts each
affected day once, and `feeschedule accruals` reads a portfolio's ledger wherever it is.
"""

from __future__ import annotations

import json
import random
import signal
import time
import zlib
from collections import Counter
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import Feeschedule, Target
from test_fee_worker_e2e import (
    BANDS,
    CUT,
    Worker,
    assert_ledger_is_clean,
    expected_fee,
    publish_daily,
    put_agreement,
    read_stream,
    report_fields,
    tiers,
    wait_until,
    worker_env,
)

from contracts.messages import AmendmentRecorded
from contracts.wire import encode

pytestmark = pytest.mark.e2e

P = 4
PORTFOLIOS = [f"F{i:02d}" for i in range(12)]


def lane(prefix: str, k: int) -> str:
    return "{" + f"{prefix}:p{k}" + "}"


def inbox_of(prefix: str, pid: str) -> str:
    return lane(prefix, zlib.crc32(pid.encode("utf-8")) % P) + ":net-assets"


def accruals(client: redis.Redis, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    return [e for k in range(P) for e in read_stream(client, lane(prefix, k) + ":accruals")]


def test_partition_vectors_match_zlib() -> None:
    # The test's own routing agrees with the contract's (contracts/README.md's vectors too).
    from contracts.partitions import partition_of

    for pid in PORTFOLIOS:
        assert partition_of(pid, P) == zlib.crc32(pid.encode()) % P
    assert len({zlib.crc32(p.encode()) % P for p in PORTFOLIOS}) == P  # every partition used


def test_two_workers_four_partitions_price_every_report_once(
    target: Target,
    prefix: str,
    bus_client: redis.Redis,
    tmp_path: Path,
) -> None:
    feeschedule = Feeschedule(target.url, prefix, cluster=target.cluster)
    redis_client = bus_client
    log = "{" + prefix + "}:agreements"
    put_agreement(redis_client, log, PORTFOLIOS, "ACT/365F", "ROUND_HALF_UP:0.01")
    rng = random.Random(15)
    reports: dict[str, Decimal] = {}
    with worker_env(target.url, prefix, **target.env(), FEES_PARTITIONS=str(P)) as env:
        workers = [
            Worker({**env, "FEES_CONSUMER": f"w{i}"}, tmp_path / f"w{i}.log") for i in (0, 1)
        ]
        try:
            pipe = redis_client.pipeline(transaction=False)
            for i in range(40):
                day = date(2024, 1, 1) + timedelta(days=i)
                for pid in PORTFOLIOS:
                    assets = Decimal(rng.randrange(0, 2_000_000_000_00)).scaleb(-2)
                    reports[f"{pid}:{day}"] = assets
                    # One report in ten goes to the unpartitioned stream: routed by the workers.
                    unrouted = rng.random() < 0.1
                    stream = "{" + prefix + "}:net-assets" if unrouted else inbox_of(prefix, pid)
                    pipe.xadd(stream, report_fields(pid, day, assets))  # type: ignore[arg-type]
            pipe.execute()
            n = len(reports)
            wait_until(lambda: len(accruals(redis_client, prefix)) >= n, 60, f"{n} accruals")
            cut = AmendmentRecorded.model_validate(
                {
                    "agreement_id": "AG",
                    "amendment_number": 2,
                    "effective_date": "2024-02-01",
                    "changes": [
                        {"action": "revise", "portfolio_id": p, "portfolio_name": p}
                        | {"tiers": tiers(CUT)}
                        for p in ("F00", "F05")
                    ],
                }
            )
            redis_client.xadd(log, encode(cut))  # type: ignore[arg-type]
            late = {k for k in reports if k[:3] in ("F00", "F05") and k[4:] >= "2024-02-01"}
            wait_until(
                lambda: len(accruals(redis_client, prefix)) >= n + len(late), 60, "adjustments"
            )
            time.sleep(0.3)  # nothing more may come
        finally:
            assert [worker.stop() for worker in workers] == [0, 0]  # each stopped, then checked
    out = accruals(redis_client, prefix)
    accrued = Counter(e["accrual_id"] for kind, e in out if kind == "FeeAccrued")
    assert set(accrued) == set(reports) and set(accrued.values()) == {1}
    adjusted = Counter(e["accrual_id"] for kind, e in out if kind == "FeeAdjusted")
    assert set(adjusted) == late and set(adjusted.values()) == {1}
    for kind, e in out:
        assets = reports[e["accrual_id"]]
        if kind == "FeeAccrued":
            assert Decimal(e["amount"]) == expected_fee(BANDS, assets, 1, 365, ROUND_HALF_UP)
        else:
            assert Decimal(e["new_amount"]) == expected_fee(CUT, assets, 1, 365, ROUND_HALF_UP)
    # Each portfolio's ledger is in its own partition, and only there.
    for pid in PORTFOLIOS:
        home = zlib.crc32(pid.encode()) % P
        for k in range(P):
            held = redis_client.hlen(lane(prefix, k) + f":ledger:{pid}")
            assert held == (40 if k == home else 0), (pid, k)
    shown = json.loads(
        feeschedule.ok(
            "accruals", "F05", "--json", "--from=2024-01-01", "--to=2024-02-09", FEES_PARTITIONS="4"
        )
    )
    assert len(shown["entries"]) == 40
    months = {m["month"]: m for m in shown["months"]}
    want = sum(
        (
            expected_fee(CUT, a, 1, 365, ROUND_HALF_UP)
            for k, a in reports.items()
            if k.startswith("F05:2024-02")
        ),
        Decimal(0),
    )
    assert Decimal(months["2024-02"]["amount"]) == want


def test_two_partitioned_workers_survive_sigkills_exactly_once(
    target: Target, prefix: str, bus_client: redis.Redis, tmp_path: Path
) -> None:
    redis_client = bus_client
    log = "{" + prefix + "}:agreements"
    put_agreement(redis_client, log, PORTFOLIOS, "ACT/365F", "ROUND_HALF_UP:0.01")
    rng = random.Random(1515)
    reports = publish_daily(redis_client, lambda pid: inbox_of(prefix, pid), PORTFOLIOS, 1500, rng)
    n = len(reports)
    extra = {"FEES_PARTITIONS": str(P), "FEES_CLAIM_IDLE_MS": "300", "FEES_BATCH_SIZE": "250"}
    kills = []
    with worker_env(target.url, prefix, **target.env(), **extra) as env:
        # Two workers at a time, both killed mid-run, three times; then two finish the work.
        for round_ in range(3):
            pair = [
                Worker({**env, "FEES_CONSUMER": f"w{i}"}, tmp_path / f"r{round_}w{i}.log")
                for i in (0, 1)
            ]
            try:
                for worker in pair:
                    wait_until(worker.ready, 30, "the workers to start")
                # Killed once they have done some work: at about 10%, 25% and 40% of it.
                due = n * (10 + 15 * round_ + rng.randrange(5)) // 100
                wait_until(lambda d=due: _count(redis_client, prefix) >= d, 60, f"{due} accruals")
                kills.append(_count(redis_client, prefix))
            finally:
                for worker in pair:
                    worker.stop(signal.SIGKILL)
        last = [Worker({**env, "FEES_CONSUMER": f"w{i}"}, tmp_path / f"w{i}.log") for i in (0, 1)]
        try:
            for worker in last:
                wait_until(worker.ready, 30, "the workers to start")
            wait_until(lambda: _count(redis_client, prefix) >= n, 90, f"{n} accruals")
            wait_until(lambda: _pending(redis_client, prefix) == 0, 30, "every entry acked")
        finally:
            assert [worker.stop() for worker in last] == [0, 0]
    assert sum(0 < k < n for k in kills) == 3, kills
    out = accruals(redis_client, prefix)
    counts = Counter(e["accrual_id"] for kind, e in out if kind == "FeeAccrued")
    assert len(out) == n and set(counts) == set(reports) and max(counts.values()) == 1
    for pid in PORTFOLIOS:
        key = inbox_of(prefix, pid).replace(":net-assets", f":ledger:{pid}")
        assert_ledger_is_clean(redis_client, key, pid, reports, 1500)
    assert not any(redis_client.xlen(lane(prefix, k) + ":dead-letters") for k in range(P))


def _count(client: redis.Redis, prefix: str) -> int:
    """How many events the partitions' accruals streams hold (cheap enough to poll)."""
    return sum(int(client.xlen(lane(prefix, k) + ":accruals")) for k in range(P))


def _pending(client: redis.Redis, prefix: str) -> int:
    total = 0
    for k in range(P):
        info: Any = client.xpending(lane(prefix, k) + ":net-assets", "fee-worker")
        total += int(info["pending"])
    return total


def test_a_worker_routing_by_another_number_of_partitions_is_refused(
    target: Target, prefix: str, bus_client: redis.Redis, tmp_path: Path
) -> None:
    redis_client = bus_client
    with worker_env(target.url, prefix, **target.env(), FEES_PARTITIONS=str(P)) as env:
        first = Worker(env, tmp_path / "first.log")
        try:
            wait_until(first.ready, 30, "the first worker")
            other = Worker({**env, "FEES_PARTITIONS": "2"}, tmp_path / "other.log")
            assert other.process.wait(timeout=30) != 0
            other.log.close()
        finally:
            assert first.stop() == 0
    said = (tmp_path / "other.log").read_text()
    assert "partitions: 2 (FEES_PARTITIONS) differs from the 4" in said
    assert redis_client.get("{" + prefix + "}:partitions") == b"4"


def _invoice(pid: str, month: str, amount: Decimal) -> dict[str, str]:
    data = {
        "type": "InvoiceReceived",
        "event_id": f"inv-{pid}-{month}",
        "invoice_id": f"inv-{pid}-{month}",
        "agreement_id": "AG",
        "portfolio_id": pid,
        "month": month,
        "amount": str(amount),
        "currency": "USD",
    }
    return {"type": "InvoiceReceived", "event_id": data["event_id"], "data": json.dumps(data)}


def _close_command(month: str) -> dict[str, str]:
    data = {
        "type": "CloseMonthRequested",
        "event_id": f"close-{month}",
        "request_id": f"close-{month}",
        "month": month,
        "agreement_id": "AG",
    }
    return {"type": "CloseMonthRequested", "event_id": data["event_id"], "data": json.dumps(data)}


def test_months_close_in_every_partition_by_command_line_and_over_the_bus(
    target: Target,
    prefix: str,
    bus_client: redis.Redis,
    tmp_path: Path,
) -> None:
    feeschedule = Feeschedule(target.url, prefix, cluster=target.cluster)
    redis_client = bus_client
    log, base = "{" + prefix + "}:agreements", "{" + prefix + "}"
    put_agreement(redis_client, log, PORTFOLIOS, "ACT/365F", "ROUND_HALF_UP:0.01")
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(60)]  # January and February
    assets = {pid: Decimal(100_000_000 * (i + 1)) for i, pid in enumerate(PORTFOLIOS)}
    pipe = redis_client.pipeline(transaction=False)
    for day in days:
        for pid in PORTFOLIOS:
            pipe.xadd(inbox_of(prefix, pid), report_fields(pid, day, assets[pid]))  # type: ignore[arg-type]
    pipe.execute()
    n = len(days) * len(PORTFOLIOS)
    with worker_env(target.url, prefix, **target.env(), FEES_PARTITIONS=str(P)) as env:
        workers = [
            Worker({**env, "FEES_CONSUMER": f"w{i}"}, tmp_path / f"w{i}.log") for i in (0, 1)
        ]
        try:
            wait_until(lambda: _count(redis_client, prefix) >= n, 60, f"{n} accruals")
            closed = json.loads(
                feeschedule.ok("close", "--month", "2024-01", "--json", FEES_PARTITIONS=str(P))
            )
            # February: asked over the unpartitioned commands stream, one invoice sent there too.
            jan = {
                p: sum(expected_fee(BANDS, assets[p], 1, 365, ROUND_HALF_UP) for _ in range(31))
                for p in PORTFOLIOS
            }
            redis_client.xadd(f"{base}:invoices", _invoice("F03", "2024-01", jan["F03"]))  # type: ignore[arg-type]
            redis_client.xadd(f"{base}:commands", _close_command("2024-02"))  # type: ignore[arg-type]
            wait_until(
                lambda: _count(redis_client, prefix) >= n + 4 * len(PORTFOLIOS), 60, "closes"
            )
            outcomes = lane(prefix, zlib.crc32(b"F03") % P) + ":invoice-outcomes"
            wait_until(lambda: redis_client.xlen(outcomes) >= 1, 30, "the invoice matched")
        finally:
            assert [worker.stop() for worker in workers] == [0, 0]  # each stopped, then checked
    assert sorted(o["portfolio_id"] for o in closed) == PORTFOLIOS
    assert {o["status"] for o in closed} == {"closed"}
    events = accruals(redis_client, prefix)
    periods = Counter((e["portfolio_id"], e["month"]) for k, e in events if k == "PeriodClosed")
    want = {(p, m): 1 for p in PORTFOLIOS for m in ("2024-01", "2024-02")}
    assert periods == want  # each portfolio's month closed once, in its own partition
    for k, e in events:
        if k == "PeriodClosed":
            assert lane(prefix, zlib.crc32(e["portfolio_id"].encode()) % P) in _stream_of(
                redis_client, prefix, e["true_up_id"]
            )
    ((kind, matched),) = read_stream(redis_client, outcomes)
    assert kind == "InvoiceMatched" and matched["portfolio_id"] == "F03"
    # The month as a fund accountant reviews it, read from the partition that closed it.
    shown = feeschedule.ok(
        "statement", "F07", "--month", "2024-01", "--json", FEES_PARTITIONS=str(P)
    )
    month = json.loads(shown)
    assert month["status"] == "closed" and Decimal(month["daily_total"]) == jan["F07"]


def _stream_of(client: redis.Redis, prefix: str, true_up_id: str) -> str:
    """The accruals stream holding a true-up."""
    for k in range(P):
        stream = lane(prefix, k) + ":accruals"
        if any(e.get("true_up_id") == true_up_id for _, e in read_stream(client, stream)):
            return stream
    return ""
