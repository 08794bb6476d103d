"""Helpers for the fee worker's integration tests: agreements on the log, reports, a worker task.

Agreement events go on the log with a plain XADD of the wire format (no recorder needed).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import redis

from contracts.messages import (
    AgreementRegistered,
    AmendmentRecorded,
    AmendmentRetracted,
    NetAssetsReported,
)
from contracts.wire import encode
from services.adapters.keys import Keys
from services.fee_worker.service import run_fee_worker
from services.settings import Settings

TIERS_A = [
    {"from": "0", "to": "500000000", "rate_pct": "0.88"},
    {"from": "500000000", "to": None, "rate_pct": "0.83"},
]
TIERS_B = [
    {"from": "0", "to": "250000000", "rate_pct": "0.75"},
    {"from": "250000000", "to": None, "rate_pct": "0.70"},
]


def register(client: redis.Redis, keys: Keys, agreement_id: str = "AG-1", **extra: Any) -> str:
    msg = AgreementRegistered(agreement_id=agreement_id, **extra)
    return client.xadd(keys.agreements, encode(msg)).decode()  # type: ignore[no-any-return, union-attr]


def amend(
    client: redis.Redis,
    keys: Keys,
    number: int,
    effective: date,
    tiers: list[dict[str, Any]],
    *,
    portfolio_id: str = "P1",
    action: str = "add",
    agreement_id: str = "AG-1",
) -> str:
    msg = AmendmentRecorded.model_validate(
        {
            "agreement_id": agreement_id,
            "amendment_number": number,
            "effective_date": effective,
            "changes": [
                {
                    "action": action,
                    "portfolio_id": portfolio_id,
                    "portfolio_name": f"Fund {portfolio_id}",
                    "tiers": tiers,
                }
            ],
        }
    )
    return client.xadd(keys.agreements, encode(msg)).decode()  # type: ignore[no-any-return, union-attr]


def retract(client: redis.Redis, keys: Keys, number: int, agreement_id: str = "AG-1") -> None:
    msg = AmendmentRetracted(agreement_id=agreement_id, amendment_number=number, reason="error")
    client.xadd(keys.agreements, encode(msg))


def report(
    client: redis.Redis,
    keys: Keys,
    portfolio_id: str,
    as_of: date,
    net_assets: str,
    *,
    revision: int = 0,
    report_id: str | None = None,
    accrual_days: int = 1,
) -> None:
    msg = NetAssetsReported(
        report_id=report_id or f"{portfolio_id}-{as_of}-r{revision}",
        portfolio_id=portfolio_id,
        as_of=as_of,
        net_assets=Decimal(net_assets),
        accrual_days=accrual_days,
        revision=revision,
    )
    client.xadd(keys.net_assets, encode(msg))


def events(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    """Every entry's `data` as JSON, with the outer `type` kept beside it."""
    out = []
    for _, fields in client.xrange(stream):  # type: ignore[union-attr]
        data = json.loads(fields[b"data"])
        data["_type"] = fields[b"type"].decode()
        out.append(data)
    return out


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


async def await_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def settings_for(redis_url: str, prefix: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {"consumer": "w1", "block_ms": 50, "batch_size": 100}
    values.update(extra)
    return Settings(redis_url=redis_url, prefix=prefix, **values)


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_fee_worker(settings, stop))
    try:
        await asyncio.sleep(0.3)
        if task.done():
            task.result()
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
