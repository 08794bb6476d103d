"""The fee worker as a real process (`feeschedule run fee-worker`), driven only through Redis.

Reports go in with plain redis-py XADD (fields built by hand, as any client would) and fees come
back with plain XRANGE; every amount is checked against a calculation written here, not the
project's fee code. Agreement events are put on the log in the wire format (no recorder needed).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import FEESCHEDULE, Target

from contracts.messages import AgreementRegistered, AmendmentRecorded
from contracts.wire import encode

pytestmark = pytest.mark.e2e

# Graduated: 0.90% to 250M, 0.80% to 1B, 0.70% above.
BANDS = [
    (Decimal(0), Decimal(250_000_000), Decimal("0.90")),
    (Decimal(250_000_000), Decimal(1_000_000_000), Decimal("0.80")),
    (Decimal(1_000_000_000), None, Decimal("0.70")),
]
CUT_FROM = date(2024, 2, 1)
CUT = [(Decimal(0), None, Decimal("0.50"))]


def expected_fee(
    bands: list[tuple[Decimal, Decimal | None, Decimal]],
    assets: Decimal,
    days: int,
    basis: int,
    rounding: str,
) -> Decimal:
    """The daily accrual, computed independently: each band's rate on the assets inside it."""
    annual = Decimal(0)
    for lower, upper, rate in bands:
        top = assets if upper is None else min(assets, upper)
        if top > lower:
            annual += (top - lower) * rate / 100
    return (annual * days / basis).quantize(Decimal("0.01"), rounding=rounding)


def tiers(bands: list[tuple[Decimal, Decimal | None, Decimal]]) -> list[dict[str, Any]]:
    return [
        {"from": str(lo), "to": None if hi is None else str(hi), "rate_pct": str(r)}
        for lo, hi, r in bands
    ]


def put_agreement(
    client: redis.Redis, log: str, portfolios: list[str], day_count: str, rounding: str
) -> None:
    client.xadd(
        log,
        encode(AgreementRegistered(agreement_id="AG", day_count=day_count, rounding=rounding)),
    )
    amendment = AmendmentRecorded.model_validate(
        {
            "agreement_id": "AG",
            "amendment_number": 1,
            "effective_date": "2020-01-01",
            "changes": [
                {"action": "add", "portfolio_id": p, "portfolio_name": p, "tiers": tiers(BANDS)}
                for p in portfolios
            ],
        }
    )
    client.xadd(log, encode(amendment))


def report_fields(pid: str, day: date, assets: Decimal, days: int = 1) -> dict[str, str]:
    """A NetAssetsReported entry in the plain wire format, built by hand."""
    report_id = f"{pid}-{day}"
    data = {
        "type": "NetAssetsReported",
        "event_id": f"ev-{report_id}",
        "report_id": report_id,
        "portfolio_id": pid,
        "as_of": day.isoformat(),
        "net_assets": str(assets),
        "currency": "USD",
        "accrual_days": days,
        "revision": 0,
    }
    return {
        "type": "NetAssetsReported",
        "event_id": data["event_id"],
        "schema_version": "1",
        "data": json.dumps(data),
    }


def publish_daily(
    client: redis.Redis,
    inbox_of: Callable[[str], str],
    portfolios: list[str],
    days: int,
    rng: random.Random,
) -> dict[str, Decimal]:
    """A report of each portfolio for each of `days` days from 2021-01-01 (random assets, in
    one pipeline), sent to `inbox_of(portfolio)`; returns the assets by `portfolio:day`."""
    reports: dict[str, Decimal] = {}
    pipe = client.pipeline(transaction=False)
    for i in range(days):
        day = date(2021, 1, 1) + timedelta(days=i)
        for pid in portfolios:
            assets = Decimal(rng.randrange(0, 2_000_000_000_00)).scaleb(-2)
            reports[f"{pid}:{day}"] = assets
            pipe.xadd(inbox_of(pid), report_fields(pid, day, assets))  # type: ignore[arg-type]
    pipe.execute()
    return reports


def assert_ledger_is_clean(
    client: redis.Redis, key: str, pid: str, reports: dict[str, Decimal], days: int
) -> None:
    """The ledger at `key` holds one entry a day, and its total is a clean calculation of every
    one-day report of `pid` (0.90/0.80/0.70%, ACT/365F, half up)."""
    raw: Any = client.hgetall(key)
    total = sum((Decimal(json.loads(v)["amount"]) for v in raw.values()), Decimal(0))
    clean = sum(
        (
            expected_fee(BANDS, a, 1, 365, ROUND_HALF_UP)
            for k, a in reports.items()
            if k.startswith(f"{pid}:")
        ),
        Decimal(0),
    )
    assert len(raw) == days
    assert total == clean, pid


def read_stream(client: redis.Redis, stream: str) -> list[tuple[str, dict[str, Any]]]:
    rows: Any = client.xrange(stream)
    return [(f[b"type"].decode(), json.loads(f[b"data"])) for _, f in rows]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Worker:
    """`feeschedule run fee-worker` as a subprocess, its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [str(FEESCHEDULE), "run", "fee-worker"], env=env, stdout=self.log, stderr=self.log
        )

    def ready(self) -> bool:
        return self.log_path.read_bytes().count(b"ready") > 0 or self.process.poll() is not None

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.log.close()
        return code


@contextmanager
def worker_env(redis_url: str, prefix: str, **extra: str) -> Iterator[dict[str, str]]:
    env = {**os.environ, "FEES_REDIS_URL": redis_url, "FEES_PREFIX": prefix}
    env.update({"FEES_BLOCK_MS": "50", **extra})
    yield env


# Both tests run on one Redis and on a three-master cluster (FEES_REDIS_CLUSTER=1, one
# partition: every key the worker touches is on the `{prefix}` slot).


def test_plain_clients_get_every_fee_right(
    target: Target, prefix: str, bus_client: redis.Redis, tmp_path: Path
) -> None:
    redis_client = bus_client
    tag = "{" + prefix + "}"
    log, inbox, outbox = f"{tag}:agreements", f"{tag}:net-assets", f"{tag}:accruals"
    # ACT/360 and banker's rounding: the worker must use the agreement's terms, not defaults.
    put_agreement(redis_client, log, ["EQ", "BOND"], "ACT/360", "ROUND_HALF_EVEN:0.01")
    rng = random.Random(4)
    reports: dict[str, tuple[Decimal, int]] = {}
    with worker_env(target.url, prefix, **target.env()) as env:
        worker = Worker(env, tmp_path / "worker.log")
        try:
            for pid in ("EQ", "BOND"):
                # Weekdays of 18 weeks: a Friday's report covers its weekend.
                for i in range(126):
                    day = date(2024, 1, 1) + timedelta(days=i)
                    if day.weekday() > 4:
                        continue
                    cents = rng.randrange(0, 3_000_000_000_00)
                    assets = Decimal(cents).scaleb(-2)
                    days = 3 if day.weekday() == 4 else 1
                    redis_client.xadd(inbox, report_fields(pid, day, assets, days))
                    reports[f"{pid}:{day}"] = (assets, days)
            wait_until(lambda: redis_client.xlen(outbox) >= 180, 60, "180 accruals")
            out = read_stream(redis_client, outbox)
            assert Counter(kind for kind, _ in out) == {"FeeAccrued": 180}
            for _, fee in out:
                assets, days = reports[fee["accrual_id"]]
                assert Decimal(fee["net_assets"]) == assets
                assert fee["accrual_days"] == days
                assert (fee["day_count"], fee["year_basis"]) == ("ACT/360", 360)
                want = expected_fee(BANDS, assets, days, 360, ROUND_HALF_EVEN)
                assert Decimal(fee["amount"]) == want, fee["accrual_id"]
                exact = Decimal(fee["amount_exact"])
                assert exact.quantize(Decimal("0.01"), ROUND_HALF_EVEN) == want
                assert fee["schedule_ref"]["agreement_id"] == "AG"
            # An amendment effective back on Feb 1 for EQ: its Feb and Mar days are adjusted.
            cut = AmendmentRecorded.model_validate(
                {
                    "agreement_id": "AG",
                    "amendment_number": 2,
                    "effective_date": CUT_FROM,
                    "changes": [
                        {"action": "revise", "portfolio_id": "EQ", "portfolio_name": "EQ"}
                        | {"tiers": tiers(CUT)}
                    ],
                }
            )
            redis_client.xadd(log, encode(cut))
            late = [d for d in reports if d.startswith("EQ:") and d >= f"EQ:{CUT_FROM}"]
            wait_until(lambda: redis_client.xlen(outbox) >= 180 + len(late), 30, "adjustments")
        finally:
            assert worker.stop() == 0
    adjusted = [fee for kind, fee in read_stream(redis_client, outbox) if kind == "FeeAdjusted"]
    assert sorted(a["accrual_id"] for a in adjusted) == sorted(late)
    for a in adjusted:
        assets, days = reports[a["accrual_id"]]
        assert Decimal(a["new_amount"]) == expected_fee(CUT, assets, days, 360, ROUND_HALF_EVEN)
        assert a["reason"] == "amendment"

    # The ledger on the command line: month totals are accruals plus adjustments.
    env = {**os.environ, **target.env(), "FEES_PREFIX": prefix}
    shown = subprocess.run(
        [str(FEESCHEDULE), "accruals", "EQ", "--json", "--from=2024-01-01", "--to=2024-03-31"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    ledger = json.loads(shown.stdout)
    assert len(ledger["entries"]) == 65  # the weekdays of 2024-01-01 .. 2024-03-31
    months = {m["month"]: m for m in ledger["months"]}

    def want(month: str) -> Decimal:
        bands = BANDS if month == "2024-01" else CUT
        return sum(
            (
                expected_fee(bands, *reports[k], 360, ROUND_HALF_EVEN)
                for k in reports
                if k.startswith(f"EQ:{month}")
            ),
            Decimal(0),
        )

    for month in ("2024-01", "2024-02", "2024-03"):
        assert Decimal(months[month]["amount"]) == want(month)
        total = Decimal(months[month]["accrued"]) + Decimal(months[month]["adjustments"])
        assert total == want(month)
    table = subprocess.run(
        [str(FEESCHEDULE), "accruals", "EQ", "--from", "2024-02-01", "--to", "2024-02-29"],
        env={**env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "2024-02 total" in table.stdout
    assert "amendment" in table.stdout


def test_accruals_command_refuses_a_bad_date_in_one_line(redis_url: str, prefix: str) -> None:
    env = {**os.environ, "FEES_REDIS_URL": redis_url, "FEES_PREFIX": prefix}
    done = subprocess.run(
        [str(FEESCHEDULE), "accruals", "EQ", "--from", "2024-13-01", "--to", "2024-12-31"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: from: '2024-13-01' is not a date (YYYY-MM-DD)"


def test_twenty_thousand_reports_survive_five_sigkills_exactly_once(
    target: Target, prefix: str, bus_client: redis.Redis, tmp_path: Path
) -> None:
    redis_client = bus_client
    tag = "{" + prefix + "}"
    log, inbox, outbox = f"{tag}:agreements", f"{tag}:net-assets", f"{tag}:accruals"
    portfolios = [f"F{i:02d}" for i in range(20)]
    put_agreement(redis_client, log, portfolios, "ACT/365F", "ROUND_HALF_UP:0.01")
    rng = random.Random(20_000)
    reports = publish_daily(redis_client, lambda _: inbox, portfolios, 1000, rng)
    assert len(reports) == 20_000

    kills = []
    tuned = {"FEES_CLAIM_IDLE_MS": "300", "FEES_BATCH_SIZE": "250"}
    with worker_env(target.url, prefix, **target.env(), **tuned) as env:
        for n in range(5):
            worker = Worker(env, tmp_path / f"worker-{n}.log")
            wait_until(worker.ready, 30, "the worker to start")
            time.sleep(rng.uniform(0.05, 0.6))
            kills.append(redis_client.xlen(outbox))
            worker.stop(signal.SIGKILL)
        last = Worker(env, tmp_path / "worker-last.log")
        try:
            # Started, so that it handles the SIGTERM below (the killed workers may have left
            # it nothing to do, and a signal during start-up ends a process as killed).
            wait_until(last.ready, 30, "the last worker to start")
            wait_until(lambda: redis_client.xlen(outbox) >= 20_000, 90, "20,000 accruals")
            wait_until(
                lambda: not redis_client.xpending(inbox, "fee-worker")["pending"], 30, "acks"
            )
        finally:
            assert last.stop() == 0
    # The kills landed mid-run (not all before the first fee or after the last).
    assert sum(0 < k < 20_000 for k in kills) >= 3, kills

    out = read_stream(redis_client, outbox)
    counts = Counter(fee["accrual_id"] for kind, fee in out if kind == "FeeAccrued")
    assert len(out) == 20_000
    assert set(counts) == set(reports)
    assert max(counts.values()) == 1
    assert redis_client.xlen(f"{tag}:dead-letters") == 0
    # Ledger totals equal a clean calculation of every report.
    for pid in portfolios:
        assert_ledger_is_clean(redis_client, f"{tag}:ledger:{pid}", pid, reports, 1000)
