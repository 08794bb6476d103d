"""The projector on a real Redis: following the log, crash recovery, claiming, rebuild swaps."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
import redis

from contracts.messages import AgreementRegistered, AmendmentRecorded
from services.adapters.connection import async_client
from services.adapters.consumer import ensure_group
from services.adapters.eventstore import EventStore
from services.adapters.keys import Keys
from services.adapters.readmodel import ReadModel
from services.projector.service import run_projector
from services.settings import Settings

pytestmark = pytest.mark.integration


def amendment(number: int, pid: str, rate: str, action: str = "revise", **extra: Any) -> Any:
    return AmendmentRecorded.model_validate(
        {
            "agreement_id": "a1",
            "amendment_number": number,
            "effective_date": date(2001, 1, 1) + timedelta(days=number),
            "changes": [
                {
                    "action": action,
                    "portfolio_id": pid,
                    "portfolio_name": extra.get("name", pid.title()),
                    "tiers": [{"from": "0", "to": None, "rate_pct": rate}],
                }
            ],
        }
    )


class Log:
    """Appends a little agreement history straight through the event store."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.store = EventStore(client, keys)
        self.ids: list[str] = [
            self.store.append(AgreementRegistered(agreement_id="a1"), 0).entry_id
        ]
        self.number = 0

    def amend(self, pid: str, rate: str, action: str = "revise", **extra: Any) -> str:
        self.number += 1
        result = self.store.append(
            amendment(self.number, pid, rate, action, **extra), len(self.ids)
        )
        self.ids.append(result.entry_id)
        return result.entry_id


def snapshot(client: redis.Redis, read_model: ReadModel) -> dict[str, Any]:
    gen = read_model.current()
    assert gen is not None
    return {
        part: client.hgetall(read_model.gen_key(gen, part))
        for part in ("portfolios", "names", "amendments", "agreements")
    } | {"checkpoint": read_model.checkpoint(gen)}


def settings_for(redis_url: str, prefix: str, consumer: str, claim_idle_ms: int) -> Settings:
    return Settings(
        redis_url=redis_url,
        prefix=prefix,
        consumer=consumer,
        block_ms=50,
        claim_idle_ms=claim_idle_ms,
    )


async def wait_for(task: asyncio.Task[None], predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if task.done():
            task.result()  # the projector died: show why
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def pending(client: redis.Redis, keys: Keys) -> int:
    info: Any = client.xpending(keys.agreements, keys.projector_group)
    return int(info["pending"])


async def test_a_projector_stopped_between_applying_and_acking_recovers_to_a_rebuild(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    log = Log(redis_client, keys)
    log.amend("p1", "0.50", "add")
    log.amend("p2", "0.60", "add")
    log.amend("p1", "0.45")
    log.amend("p2", "0.55")
    # The first projector takes every entry, applies part of them, and dies before acking.
    aclient = async_client(settings_for(redis_url, prefix, "p-1", 60_000))
    await ensure_group(aclient, keys.agreements, keys.projector_group)
    taken: Any = await aclient.xreadgroup(keys.projector_group, "p-1", {keys.agreements: ">"})
    await aclient.aclose()
    assert len(taken[0][1]) == 5
    ReadModel(redis_client, keys).catch_up(until=log.ids[2])
    assert pending(redis_client, keys) == 5
    log.amend("p1", "0.40")  # recorded while no projector runs

    # A new instance of the same consumer starts: own pending first, then new entries.
    stop = asyncio.Event()
    task = asyncio.create_task(run_projector(settings_for(redis_url, prefix, "p-1", 60_000), stop))
    read_model = ReadModel(redis_client, keys)
    await wait_for(task, lambda: pending(redis_client, keys) == 0)
    log.amend("p2", "0.50")  # and it follows new ones
    await wait_for(task, lambda: read_model.checkpoint(read_model.ensure_current()) == log.ids[-1])
    await wait_for(task, lambda: pending(redis_client, keys) == 0)
    stop.set()
    await asyncio.wait_for(task, 10)

    followed = snapshot(redis_client, read_model)
    read_model.rebuild()
    assert snapshot(redis_client, read_model) == followed
    assert len(followed["portfolios"]) == 2


async def test_a_second_consumer_claims_a_dead_consumers_pending_entries(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    log = Log(redis_client, keys)
    log.amend("p1", "0.50", "add")
    log.amend("p1", "0.45")
    aclient = async_client(settings_for(redis_url, prefix, "dead", 100))
    await ensure_group(aclient, keys.agreements, keys.projector_group)
    await aclient.xreadgroup(keys.projector_group, "dead", {keys.agreements: ">"})
    await aclient.aclose()
    assert pending(redis_client, keys) == 3
    await asyncio.sleep(0.15)  # longer than the claim idle time: "dead" is dead

    stop = asyncio.Event()
    settings = settings_for(redis_url, prefix, "alive", 100)
    task = asyncio.create_task(run_projector(settings, stop))
    # Nothing new is ever delivered: only claiming can bring the read model up to date.
    read_model = ReadModel(redis_client, keys)
    await wait_for(task, lambda: pending(redis_client, keys) == 0)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert read_model.checkpoint(read_model.ensure_current()) == log.ids[-1]
    consumers: Any = redis_client.xinfo_consumers(keys.agreements, keys.projector_group)
    assert {c["name"].decode(): c["pending"] for c in consumers} == {"dead": 0, "alive": 0}
    found = read_model.lookup("p1")
    assert found is not None and found.timeline.schedule_on(date(2010, 1, 1)).version is not None


def test_readers_during_a_rebuild_see_the_old_or_the_new_model_never_a_mix(
    prefix: str, redis_client: redis.Redis, redis_url: str
) -> None:
    keys = Keys(prefix)
    log = Log(redis_client, keys)
    pids = [f"p{i}" for i in range(20)]
    for pid in pids:
        log.amend(pid, "0.50", "add")
    for round_ in range(30):
        for pid in pids:
            log.amend(pid, f"0.{40 + round_ % 50}")
    read_model = ReadModel(redis_client, keys)
    read_model.catch_up()
    old_gen, old_cp = read_model.current(), log.ids[-1]
    old_docs = {pid: read_model.lookup(pid).document for pid in pids}  # type: ignore[union-attr]
    # The log moves on; only the rebuild will show it. A new name exists only in the new model.
    for pid in pids:
        log.amend(pid, "0.30", name=f"{pid.title()} Renamed")
    new_cp = log.ids[-1]

    seen: list[tuple[str, str, str, str]] = []
    stop = threading.Event()

    def reader(n: int) -> None:
        client = redis.Redis.from_url(redis_url)
        model = ReadModel(client, keys)
        i = n
        while not stop.is_set():
            pid = pids[i % len(pids)]
            i += 1
            found = model.lookup(pid)
            assert found is not None
            renamed = model.lookup(f"{pid.title()} Renamed")
            seen.append((found.generation, found.checkpoint, pid, repr(found.document)))
            if renamed is not None:  # only the new model knows the new name
                seen.append((renamed.generation, renamed.checkpoint, pid, "renamed"))
        client.close()

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    result = read_model.rebuild(page=100)
    time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()

    new_docs = {pid: read_model.lookup(pid).document for pid in pids}  # type: ignore[union-attr]
    assert all(old_docs[p] != new_docs[p] for p in pids)
    generations = {gen for gen, *_ in seen}
    assert generations == {old_gen, result.generation}, "readers saw both models"
    for gen, checkpoint, pid, doc in seen:
        if gen == old_gen:
            assert checkpoint == old_cp and doc == repr(old_docs[pid]), "torn read"
        else:
            assert checkpoint == new_cp
            assert doc in ("renamed", repr(new_docs[pid])), "torn read"
