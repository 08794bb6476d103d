"""The real services do their whole job as their least-privilege Redis users.

The recorder appends through the event store, the projector (FastStream consumer group, Lua
apply and swap) builds the read model, and the fee worker (consumer group, settle script)
prices net assets and dead-letters a poison report, each connected as its own ACL user. A rule
too tight for the code fails here with NOPERM; test_acl.py proves the rules are not too loose.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import redis

from contracts.messages import AgreementRegistered, AmendmentRecorded, NetAssetsReported
from contracts.wire import encode
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.readmodel import ReadModel
from services.fee_worker.service import run_fee_worker
from services.ops.acl import ROLES, build_user
from services.projector.service import run_projector
from services.settings import Settings

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-for-service-tests"


@pytest.fixture
def suffix(redis_client: redis.Redis, prefix: str) -> Iterator[str]:
    info: Any = redis_client.info("server")
    user_suffix = f"-svc-{prefix}"
    try:
        for role in ROLES:
            user = build_user(
                role,
                prefix,
                PASSWORD,
                user_suffix=user_suffix,
                server_version=str(info["redis_version"]),
            )
            redis_client.execute_command(*shlex.split(user.setuser()))
        yield user_suffix
    finally:
        redis_client.acl_deluser(*(role + user_suffix for role in ROLES))


def as_user(redis_url: str, prefix: str, user: str, consumer: str) -> Settings:
    return Settings(
        redis_url=redis_url,
        prefix=prefix,
        redis_username=user,
        redis_password=PASSWORD,
        consumer=consumer,
        block_ms=50,
        batch_size=100,
    )


async def until(condition: Callable[[], bool], tasks: list[asyncio.Task[None]]) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        for task in tasks:
            if task.done():
                task.result()  # a service died (NOPERM?): show why
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_services_run_as_their_own_acl_users(
    redis_url: str, redis_client: redis.Redis, prefix: str, suffix: str
) -> None:
    keys = Keys(prefix)
    recorder = redis.Redis.from_url(redis_url, username="recorder" + suffix, password=PASSWORD)
    auditor = redis.Redis.from_url(redis_url, username="auditor" + suffix, password=PASSWORD)
    store = EventStore(recorder, keys)
    store.append(AgreementRegistered(agreement_id="AG-1"), 0)
    amendment = AmendmentRecorded.model_validate(
        {
            "agreement_id": "AG-1",
            "amendment_number": 22,
            "effective_date": date(2006, 11, 1),
            "changes": [
                {
                    "action": "add",
                    "portfolio_id": "P1",
                    "portfolio_name": "Met/AIM Small Cap Growth Portfolio",
                    "tiers": [
                        {"from": "0", "to": "500000000", "rate_pct": "0.88"},
                        {"from": "500000000", "to": None, "rate_pct": "0.83"},
                    ],
                }
            ],
        }
    )
    store.append(amendment, 1)
    # Net assets come from the fund accounting system (here: the admin connection).
    report = NetAssetsReported(
        report_id="P1-2006-11-01",
        portfolio_id="P1",
        as_of=date(2006, 11, 1),
        net_assets=Decimal("750000000"),
    )
    redis_client.xadd(keys.net_assets, encode(report))
    redis_client.xadd(keys.net_assets, {"type": "NetAssetsReported", "data": "{not json"})

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(
            run_projector(as_user(redis_url, prefix, "projector" + suffix, "p1"), stop)
        ),
        asyncio.create_task(
            run_fee_worker(as_user(redis_url, prefix, "fee-worker" + suffix, "w1"), stop)
        ),
    ]
    read_model = ReadModel(auditor, keys)
    try:
        await until(lambda: auditor.xlen(keys.accruals) == 1, tasks)
        await until(lambda: auditor.xlen(keys.dead_letters) == 1, tasks)
        await until(lambda: bool(read_model.current()), tasks)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
    for task in tasks:
        task.result()
    entries: Any = auditor.xrange(keys.accruals)
    accrued = json.loads(entries[0][1][b"data"])
    # 0.88% of 500M + 0.83% of 250M = 6,475,000 a year; one day of ACT/365F.
    assert Decimal(accrued["amount"]) == Decimal("17739.73")
    generation = read_model.current()
    assert generation is not None
    assert auditor.hexists(read_model.gen_key(generation, "portfolios"), "P1")
    pending: Any = auditor.xpending(keys.net_assets, keys.fee_worker_group)
    assert int(pending["pending"]) == 0
    recorder.close()
    auditor.close()
