"""The real services do their whole job as their least-privilege Redis users.

The recorder appends through the event store, the projector (FastStream consumer group, Lua
apply and swap) builds the read model, and the fee worker (consumer group, settle script)
prices net assets and dead-letters a poison report, each connected as its own ACL user. A rule
too tight for the code fails here with NOPERM; test_acl.py proves the rules are not too loose.
It runs on one Redis and on a three-master cluster, where the users are set on every node
(services/ops/apply.py) and the services use their cluster clients and broker.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any, cast

import pytest
import redis
import redis.cluster
from conftest import Target

from contracts.messages import AgreementRegistered, AmendmentRecorded, NetAssetsReported
from contracts.wire import encode
from services.adapters.connection import each_node
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.readmodel import ReadModel
from services.fee_worker.service import run_fee_worker
from services.ops.acl import ROLES, AclUser, build_user
from services.ops.apply import apply_users, delete_users
from services.projector.service import run_projector
from services.settings import Settings

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-for-service-tests"
# What redis-py sends on connecting and may be refused (ACL LOG's names for it).
HANDSHAKE = ("client", "client|setinfo")


@pytest.fixture
def admin(target: Target) -> Iterator[redis.Redis]:
    client = target.client()
    yield client
    client.close()


@pytest.fixture
def suffix(admin: redis.Redis, prefix: str) -> Iterator[str]:
    user_suffix = f"-svc-{prefix}"

    def users(version: str) -> list[AclUser]:
        return [
            build_user(role, prefix, PASSWORD, user_suffix=user_suffix, server_version=version)
            for role in ROLES
        ]

    try:
        applied = apply_users(admin, users)
        assert len(applied) == (3 if isinstance(admin, redis.cluster.RedisCluster) else 1)
        yield user_suffix
    finally:
        delete_users(admin, (role + user_suffix for role in ROLES))


def connect(target: Target, user: str) -> redis.Redis:
    if target.cluster:
        cluster = redis.cluster.RedisCluster.from_url(target.url, username=user, password=PASSWORD)
        return cast(redis.Redis, cluster)
    return redis.Redis.from_url(target.url, username=user, password=PASSWORD)


def as_user(target: Target, prefix: str, user: str, consumer: str) -> Settings:
    return Settings(
        redis_url=target.url,
        redis_cluster=target.cluster,
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
    target: Target, admin: redis.Redis, prefix: str, suffix: str
) -> None:
    keys = Keys(prefix)
    redis_client = admin
    recorder = connect(target, "recorder" + suffix)
    auditor = connect(target, "auditor" + suffix)
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
            run_projector(as_user(target, prefix, "projector" + suffix, "p1"), stop)
        ),
        asyncio.create_task(
            run_fee_worker(as_user(target, prefix, "fee-worker" + suffix, "w1"), stop)
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
    # No node refused any of these users anything (a swallowed refusal would show here) but
    # redis-py's CLIENT SETINFO on connecting, whose refusal it ignores (Redis 6.2 logs it;
    # 7.0 has no such subcommand, 7.2+ lets every user run it).
    for node, client in each_node(admin):
        log: Any = client.acl_log()
        refused = [
            (e["username"], e["object"])
            for e in log
            if str(e["username"]).endswith(suffix) and e["object"] not in HANDSHAKE
        ]
        assert not refused, f"{node}: {refused}"
    recorder.close()
    auditor.close()
