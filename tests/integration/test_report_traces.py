"""Every net-assets entry leaves exactly one trace, and no bad entry takes its neighbours down.

On a real Redis with the real worker: poison of every kind mixed 1:5 with good reports in one
batch (every good one accrues on its first delivery), revisions past 2^53 compared as
integers, and each way a report can end (FeeAccrued, FeeAdjusted, ReportHeld, ReportIgnored,
DeadLetter) seen by an integrator on the output streams.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from test_fee_worker_support import (
    TIERS_A,
    amend,
    await_for,
    events,
    register,
    report,
    running_worker,
    settings_for,
)

from services.adapters.consumer import Delivery
from services.adapters.keys import Keys
from services.adapters.ledger import RedisLedgerStore as LedgerStore
from services.app.pricing import Pricer
from services.domain.book import ScheduleBook
from services.domain.fees import FeeSchedule, accrue

pytestmark = pytest.mark.integration

START = date(2024, 1, 1)
NESTED = "[" * 1000 + "]" * 1000


def _report_json(**fields: Any) -> str:
    data: dict[str, Any] = {
        "type": "NetAssetsReported",
        "report_id": "poison",
        "portfolio_id": "P1",
        "as_of": "2024-01-02",
        "net_assets": "500000000",
    }
    data.update(fields)
    return json.dumps(data)


def _raw(data: str, **extra: bytes) -> dict[bytes, bytes]:
    return {b"type": b"NetAssetsReported", b"data": data.encode(), **extra}


# Each poison entry with the field (or problem) its dead letter must name, and its code.
POISON: dict[str, tuple[dict[bytes, bytes], str, str]] = {
    "nested data": (_raw(NESTED), "data:", "too_deep"),
    "nested report_id": (_raw(_report_json().replace('"poison"', NESTED)), "data:", "too_deep"),
    "1e999": (_raw(_report_json(net_assets="1e999")), "net_assets", "invalid_field"),
    "5,000-digit revision": (
        _raw(_report_json().replace("}", ', "revision": ' + "9" * 5000 + "}")),
        "revision",
        "invalid_field",
    ),
    "missing field": (_raw('{"type": "NetAssetsReported", "report_id": "x"}'), "missing", ""),
    "underscore": (_raw(_report_json(net_assets="1_000")), "net_assets", "invalid_field"),
    "space": (_raw(_report_json(net_assets=" 5")), "net_assets", "invalid_field"),
    "plus": (_raw(_report_json(net_assets="+5")), "net_assets", "invalid_field"),
    "exponent": (_raw(_report_json(net_assets="1E+9")), "net_assets", "invalid_field"),
    "arabic-indic digit": (_raw(_report_json(net_assets="٣")), "net_assets", "invalid_field"),
    "JSON integer": (_raw(_report_json(net_assets=5)), "net_assets", "invalid_field"),
    "tiny exponent": (_raw(_report_json(net_assets="1e-999")), "net_assets", "invalid_field"),
    "datetime": (_raw(_report_json(as_of="2006-02-01T00:00:00Z")), "as_of", "invalid_field"),
    "days as text": (_raw(_report_json(accrual_days="1")), "accrual_days", "invalid_field"),
    "days as float": (_raw(_report_json(accrual_days=1.0)), "accrual_days", "invalid_field"),
    "days as bool": (_raw(_report_json(accrual_days=True)), "accrual_days", "invalid_field"),
    "duplicate keys": (
        _raw(_report_json()[:-1] + ', "net_assets": "1"}'),
        "net_assets",
        "invalid_json",
    ),
    "not JSON": (_raw("{nope"), "data:", "invalid_json"),
    "NaN": (_raw(_report_json().replace("}", ', "revision": NaN}')), "data", ""),
    "invalid UTF-8": ({b"type": b"NetAssetsReported", b"data": b"\xff\xfe"}, "UTF-8", ""),
    "unknown type": (_raw('{"type": "Hello"}', type=b"Hello"), "type:", "unknown_type"),
    "unknown portfolio": (
        _raw(_report_json(portfolio_id="NOPE")),
        "portfolio_id",
        "unknown_portfolio",
    ),
    "oversize": (_raw(_report_json(report_id="x" * 300_000)), "entry:", "too_large"),
}


def fee(day: date, assets: str) -> Decimal:
    return accrue(FeeSchedule.from_json(TIERS_A), Decimal(assets), day).amount


async def test_poison_mixed_one_to_five_with_good_reports_never_delays_a_good_one(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    poison_ids: dict[str, str] = {}
    good_days: list[date] = []
    day = START
    for name, (fields, _, _) in POISON.items():
        for _ in range(5):
            report(redis_client, keys, "P1", day, "600000000.00")
            good_days.append(day)
            day += timedelta(days=1)
        poison_ids[name] = redis_client.xadd(keys.net_assets, fields).decode()  # type: ignore[union-attr]
    total = len(good_days) + len(POISON)
    # One batch holds every entry; nothing is claimed again within the test (a part that
    # failed would stay pending, and its good reports unpriced).
    settings = settings_for(redis_url, prefix, batch_size=total, claim_idle_ms=600_000)
    async with running_worker(settings):
        await await_for(lambda: redis_client.xlen(keys.accruals) >= len(good_days))
        await await_for(lambda: redis_client.xlen(keys.dead_letters) >= len(POISON))
        await await_for(lambda: not redis_client.xpending(keys.net_assets, "fee-worker")["pending"])
    accrued = events(redis_client, keys.accruals)
    assert [e["as_of"] for e in accrued] == [d.isoformat() for d in good_days]
    assert all(
        Decimal(e["amount"]) == fee(date.fromisoformat(e["as_of"]), "600000000") for e in accrued
    )
    letters = {e["entry_id"]: e for e in events(redis_client, keys.dead_letters)}
    assert set(letters) == set(poison_ids.values())
    for name, (_, needle, code) in POISON.items():
        letter = letters[poison_ids[name]]
        assert letter["deliveries"] == 1, name
        assert needle in letter["reason"], (name, letter["reason"])
        assert len(letter["reason"]) <= 400, (name, letter["reason"])
        assert "{'" not in letter["reason"], (name, letter["reason"])  # never a Python repr
        if code:
            assert letter["code"] == code, (name, letter["code"], letter["reason"])


@pytest.mark.parametrize("low", [2**53, 1_733_000_000_000_000_000])
async def test_a_higher_revision_adjusts_even_where_doubles_cannot_tell_them_apart(
    redis_url: str, prefix: str, redis_client: redis.Redis, low: int
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    high = low + 1 if low == 2**53 else low + 100
    assert float(high) == float(low)  # the bug this guards against
    report(redis_client, keys, "P1", START, "600000000", revision=low, report_id="r")
    async with running_worker(settings_for(redis_url, prefix)):
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 1)
        report(redis_client, keys, "P1", START, "700000000", revision=high, report_id="r")
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 2)
    adjusted = events(redis_client, keys.accruals)[1]
    assert adjusted["_type"] == "FeeAdjusted"
    assert adjusted["revision"] == high
    assert Decimal(adjusted["new_amount"]) == fee(START, "700000000")
    stored = json.loads(redis_client.hget(keys.ledger("P1"), START.isoformat()))  # type: ignore[arg-type]
    assert stored["revision"] == high


def _label(event: dict[str, Any]) -> str:
    return event["_type"] + (f":{event['code']}" if "code" in event else "")


def _traces(client: redis.Redis, keys: Keys) -> dict[str, list[str]]:
    """Entry id -> the trace events that name it.

    Held, ignored and dead-lettered entries are named by entry id; a fee by its report id and
    revision, given to the first such entry that no other event accounts for.
    """
    out: dict[str, list[str]] = {}
    reports: dict[tuple[str, int], list[str]] = {}
    for entry_id, fields in client.xrange(keys.net_assets):  # type: ignore[union-attr]
        out[entry_id.decode()] = []
        try:
            data = json.loads(fields[b"data"])
            reports.setdefault((data["report_id"], data["revision"]), []).append(entry_id.decode())
        except (KeyError, ValueError):
            pass
    for event in events(client, keys.report_outcomes) + events(client, keys.dead_letters):
        out[event["entry_id"]].append(_label(event))
    for event in events(client, keys.accruals):
        candidates = reports[(event["report_id"], event["revision"])]
        free = [c for c in candidates if all(t.startswith("ReportHeld") for t in out[c])]
        out[free[0]].append(_label(event))
    return out


async def test_every_entry_ends_in_exactly_one_outcome_an_integrator_can_read(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    early = START - timedelta(days=10)

    def send(day: date, assets: str, revision: int, report_id: str) -> str:
        report(redis_client, keys, "P1", day, assets, revision=revision, report_id=report_id)
        return redis_client.xrevrange(keys.net_assets, count=1)[0][0].decode()  # type: ignore[index]

    expected = {
        send(START, "600000000", 0, "a"): ["FeeAccrued"],
        send(START, "600000000", 0, "a"): ["ReportIgnored:duplicate"],
        send(START, "610000000", 1, "a"): ["FeeAdjusted"],
        send(START, "600000000", 0, "a"): ["ReportIgnored:older_revision"],
        send(START, "620000000", 1, "a"): ["ReportIgnored:same_revision_different_content"],
        send(START, "610000000", 1, "b"): ["ReportIgnored:same_revision_different_content"],
        send(early, "500000000", 0, "e"): ["ReportHeld:no_schedule"],
        send(early, "510000000", 1, "e"): ["ReportHeld:no_schedule", "FeeAccrued"],
        send(early, "500000000", 0, "e"): ["ReportIgnored:older_revision"],
        redis_client.xadd(keys.net_assets, {"type": "NetAssetsReported", "data": "{}"}).decode(): [  # type: ignore[union-attr]
            "DeadLetter:invalid_field"
        ],
    }
    async with running_worker(settings_for(redis_url, prefix)):
        await await_for(lambda: redis_client.xlen(keys.report_outcomes) >= 6)
        await await_for(lambda: not redis_client.xpending(keys.net_assets, "fee-worker")["pending"])
        assert redis_client.hlen(keys.unpriced) == 1
        amend(redis_client, keys, 2, early, TIERS_A, action="revise")  # now early has a schedule
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 3)
        await await_for(lambda: redis_client.hlen(keys.unpriced) == 0)
    assert _traces(redis_client, keys) == expected
    held = events(redis_client, keys.report_outcomes)
    ignored = [e for e in held if e["_type"] == "ReportIgnored"]
    assert {e["held_revision"] for e in ignored if e["code"] == "older_revision"} == {1}
    priced = json.loads(redis_client.hget(keys.ledger("P1"), early.isoformat()))  # type: ignore[arg-type]
    assert (priced["report_id"], priced["revision"]) == ("e", 1)


async def test_a_ledger_key_that_is_not_a_hash_dead_letters_only_its_portfolios_entries(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    amend(redis_client, keys, 2, START, TIERS_A, portfolio_id="P2")
    redis_client.set(keys.ledger("P2"), "not a ledger")
    for i in range(6):
        report(redis_client, keys, "P1" if i % 3 else "P2", START + timedelta(days=i), "600000000")
    async with running_worker(settings_for(redis_url, prefix)):
        await await_for(lambda: redis_client.xlen(keys.dead_letters) >= 2)
        await await_for(lambda: not redis_client.xpending(keys.net_assets, "fee-worker")["pending"])
    assert redis_client.hlen(keys.ledger("P1")) == 4
    letters = events(redis_client, keys.dead_letters)
    assert [e["code"] for e in letters] == ["settle_failed", "settle_failed"]
    assert all(keys.ledger("P2") in e["reason"] for e in letters)


async def test_an_entry_settled_twice_by_two_workers_writes_its_outcome_once(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:

    keys = Keys(prefix)
    redis_client.xgroup_create(keys.net_assets, "fee-worker", id="0", mkstream=True)
    entry_id = redis_client.xadd(keys.net_assets, {"type": "NetAssetsReported", "data": "{}"})
    redis_client.xreadgroup("fee-worker", "w1", {keys.net_assets: ">"})
    client = aioredis.Redis.from_url(redis_url)
    store = LedgerStore(client, keys, "fee-worker")
    pricer = Pricer(ScheduleBook(), keys.net_assets)

    claimed = Delivery(entry_id.decode(), {b"data": b"{}"})  # type: ignore[union-attr]
    for _ in range(2):  # the claimed entry's first worker, then a second that claimed it too
        (op,) = pricer.plan_batch([claimed])
        assert (await store.settle([op], "")).status == "ok"
    await client.aclose()
    assert redis_client.xlen(keys.dead_letters) == 1
    assert not redis_client.xpending(keys.net_assets, "fee-worker")["pending"]
