"""The fee worker on a real Redis: accruals once, late knowledge, poison entries, recovery."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
import redis
from conftest import Feeschedule
from faststream.redis.parser import BinaryMessageFormatV1
from test_fee_worker_support import (
    TIERS_A,
    TIERS_B,
    amend,
    await_for,
    events,
    register,
    report,
    retract,
    running_worker,
    settings_for,
)

from contracts.messages import CloseMonthRequested, InvoiceReceived, NetAssetsReported
from contracts.partitions import partition_of
from contracts.wire import encode
from services.adapters.keys import Keys
from services.app.ledger import LedgerEntry
from services.app.operations import invoice_field
from services.domain.fees import FeeSchedule, accrue

pytestmark = pytest.mark.integration

START = date(2024, 1, 1)
DAYS = [START + timedelta(days=i) for i in range(60)]
AMENDED_FROM = DAYS[30]


def assets_on(day: date) -> str:
    # Varying assets so each day's fee differs, straddling the 500M breakpoint.
    return f"{480_000_000 + (day - START).days * 1_234_567}.89"


def fresh(tiers: list[dict[str, Any]], day: date, assets: str) -> Decimal:
    return accrue(FeeSchedule.from_json(tiers), Decimal(assets), day).amount


def ledger(client: redis.Redis, keys: Keys, pid: str = "P1") -> dict[str, LedgerEntry]:
    raw: Any = client.hgetall(keys.ledger(pid))
    return {k.decode(): LedgerEntry.from_json(v) for k, v in raw.items()}


async def accrue_sixty_days(client: redis.Redis, keys: Keys) -> None:
    for day in DAYS:
        report(client, keys, "P1", day, assets_on(day))
    await await_for(lambda: client.xlen(keys.accruals) >= len(DAYS))


async def test_each_report_accrues_once_with_its_schedule(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    position = amend(redis_client, keys, 1, START, TIERS_A)
    for day in DAYS[:10]:
        report(redis_client, keys, "P1", day, assets_on(day))
    report(redis_client, keys, "P1", DAYS[3], assets_on(DAYS[3]))  # published twice
    async with running_worker(settings_for(redis_url, prefix)):
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 10)
        await await_for(lambda: not redis_client.xpending(keys.net_assets, "fee-worker")["pending"])
    accrued = events(redis_client, keys.accruals)
    assert [e["accrual_id"] for e in accrued] == [f"P1:{d}" for d in DAYS[:10]]
    for event in accrued:
        day = date.fromisoformat(event["as_of"])
        assert Decimal(event["amount"]) == fresh(TIERS_A, day, assets_on(day))
        assert event["schedule_ref"]["amendment_number"] == 1
        assert event["schedule_ref"]["position"] == position
        assert event["day_count"] == "ACT/365F"
        assert len(event["breakdown"]) == 2
    assert redis_client.hlen(keys.ledger("P1")) == 10
    assert redis_client.get(keys.worker_checkpoint) == position.encode()


async def test_amendment_effective_thirty_days_back_adjusts_exactly_thirty_days(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    async with running_worker(settings_for(redis_url, prefix)):
        await accrue_sixty_days(redis_client, keys)
        amend(redis_client, keys, 2, AMENDED_FROM, TIERS_B, action="revise")
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 90)
    out = events(redis_client, keys.accruals)
    adjusted = [e for e in out if e["_type"] == "FeeAdjusted"]
    assert len(out) == 90
    assert [e["as_of"] for e in adjusted] == [d.isoformat() for d in DAYS[30:]]
    expected = {
        d.isoformat(): fresh(TIERS_B if d >= AMENDED_FROM else TIERS_A, d, assets_on(d))
        for d in DAYS
    }
    accrued = {e["as_of"]: Decimal(e["amount"]) for e in out if e["_type"] == "FeeAccrued"}
    for e in adjusted:
        assert e["reason"] == "amendment"
        assert Decimal(e["previous_amount"]) == accrued[e["as_of"]]
        assert Decimal(e["new_amount"]) == expected[e["as_of"]]
        assert Decimal(e["delta"]) == expected[e["as_of"]] - accrued[e["as_of"]]
        assert e["schedule_ref"]["amendment_number"] == 2
        assert e["previous_schedule_ref"]["amendment_number"] == 1
    total = sum(accrued.values()) + sum(Decimal(e["delta"]) for e in adjusted)
    assert total == sum(expected.values())
    book = ledger(redis_client, keys)
    assert {d: Decimal(e.amount) for d, e in book.items()} == expected


async def test_retraction_adjusts_back_exactly_the_days_it_priced(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    amend(redis_client, keys, 2, AMENDED_FROM, TIERS_B, action="revise")
    async with running_worker(settings_for(redis_url, prefix)):
        await accrue_sixty_days(redis_client, keys)
        retract(redis_client, keys, 2)
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 90)
    out = events(redis_client, keys.accruals)
    adjusted = [e for e in out if e["_type"] == "FeeAdjusted"]
    assert len(out) == 90
    assert {e["reason"] for e in adjusted} == {"retraction"}
    assert [e["as_of"] for e in adjusted] == [d.isoformat() for d in DAYS[30:]]
    expected = {d.isoformat(): fresh(TIERS_A, d, assets_on(d)) for d in DAYS}
    total = sum(Decimal(e["amount"]) for e in out if e["_type"] == "FeeAccrued")
    total += sum(Decimal(e["delta"]) for e in adjusted)
    assert total == sum(expected.values())
    assert {d: Decimal(e.amount) for d, e in ledger(redis_client, keys).items()} == expected


async def test_revised_report_adjusts_and_an_equal_or_older_one_is_ignored(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    revised = {DAYS[i]: f"{700_000_000 + i}.00" for i in (2, 5, 40)}
    async with running_worker(settings_for(redis_url, prefix)):
        await accrue_sixty_days(redis_client, keys)
        for day, assets in revised.items():
            report(redis_client, keys, "P1", day, assets, revision=1)
        # One day revised twice in quick succession, and equal / lower revisions.
        report(redis_client, keys, "P1", DAYS[7], "1.00", revision=1)
        report(redis_client, keys, "P1", DAYS[7], "900000000.00", revision=2)
        report(redis_client, keys, "P1", DAYS[9], "1.00", revision=0, report_id="other")
        report(redis_client, keys, "P1", DAYS[2], "1.00", revision=0, report_id="older")
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 64)
        await await_for(lambda: not redis_client.xpending(keys.net_assets, "fee-worker")["pending"])
    out = events(redis_client, keys.accruals)
    adjusted = [e for e in out if e["_type"] == "FeeAdjusted"]
    revised[DAYS[7]] = "900000000.00"
    assert {e["as_of"] for e in adjusted} == {d.isoformat() for d in revised}
    # DAYS[7] had two revisions in one batch or in two: either way it ends at revision 2.
    assert all(e["reason"] == "revised_report" for e in adjusted)
    expected = {d.isoformat(): fresh(TIERS_A, d, revised.get(d, assets_on(d))) for d in DAYS}
    total = sum(Decimal(e["amount"]) for e in out if e["_type"] == "FeeAccrued")
    total += sum(Decimal(e["delta"]) for e in adjusted)
    assert total == sum(expected.values())
    book = ledger(redis_client, keys)
    assert {d: Decimal(e.amount) for d, e in book.items()} == expected
    assert book[DAYS[7].isoformat()].revision == 2
    assert book[DAYS[9].isoformat()].report_id != "other"


async def test_a_revision_ending_a_full_batch_is_adjusted_after_its_part_was_left_in_flight(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    """A full batch's last part is settled while the next batch is read (`FeeWorker.on_batch`):
    a conflict in it is taken up by the next batch, or, when none follows, while idle."""
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    # 63 entries in batches of 7: revisions end batch 3 and batch 9 (the last), and sit inside
    # batch 6; each revises a day accrued by an earlier batch.
    revisions = {20: DAYS[2], 40: DAYS[9], 62: DAYS[5]}
    days = iter(DAYS)
    for position in range(63):
        if position in revisions:
            day = revisions[position]
            report(redis_client, keys, "P1", day, f"{800_000_000 + position}.00", revision=1)
        else:
            day = next(days)
            report(redis_client, keys, "P1", day, assets_on(day))
    async with running_worker(settings_for(redis_url, prefix, batch_size=7)):
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 63)
        await await_for(lambda: not redis_client.xpending(keys.net_assets, "fee-worker")["pending"])
    out = events(redis_client, keys.accruals)
    assert len(out) == 63  # nothing twice
    adjusted = [e for e in out if e["_type"] == "FeeAdjusted"]
    assert sorted(e["as_of"] for e in adjusted) == sorted(d.isoformat() for d in revisions.values())
    assets = {d: assets_on(d) for d in DAYS} | {
        d: f"{800_000_000 + p}.00" for p, d in revisions.items()
    }
    expected = {d.isoformat(): fresh(TIERS_A, d, a) for d, a in assets.items()}
    book = ledger(redis_client, keys)
    assert {d: Decimal(e.amount) for d, e in book.items()} == expected


async def test_report_without_schedule_waits_and_is_priced_when_one_is_recorded(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    # NEWFUND is on the schedule from day 4 only: its reports for days 0..3 have no schedule.
    amend(redis_client, keys, 1, DAYS[4], TIERS_A, portfolio_id="NEWFUND")
    for day in DAYS[:10]:
        report(redis_client, keys, "NEWFUND", day, "100000000")
    async with running_worker(settings_for(redis_url, prefix)):
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 6)
        await await_for(lambda: redis_client.hlen(keys.unpriced) == 4)
        out = events(redis_client, keys.accruals)
        assert sorted(e["as_of"] for e in out) == [d.isoformat() for d in DAYS[4:10]]
        waiting: Any = redis_client.hkeys(keys.unpriced)
        assert sorted(k.decode() for k in waiting) == [f"NEWFUND|{d}" for d in DAYS[:4]]
        # A retroactive amendment covering days 0..3 prices exactly the waiting reports.
        amend(redis_client, keys, 2, DAYS[0], TIERS_A, portfolio_id="NEWFUND")
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 10)
        await await_for(lambda: redis_client.hlen(keys.unpriced) == 0)
    out = events(redis_client, keys.accruals)
    assert sorted(e["as_of"] for e in out) == [d.isoformat() for d in DAYS[:10]]
    assert all(e["_type"] == "FeeAccrued" for e in out)
    assert redis_client.xlen(keys.dead_letters) == 0


def _good(day: date) -> dict[str, str]:
    msg = NetAssetsReported(
        report_id=f"good-{day}", portfolio_id="P1", as_of=day, net_assets=Decimal("5E+8")
    )
    return encode(msg)


def _data(**changes: Any) -> dict[str, str]:
    body = {
        "type": "NetAssetsReported",
        "event_id": "e1",
        "report_id": "r1",
        "portfolio_id": "P1",
        "as_of": "2024-01-05",
        "net_assets": "100.00",
    }
    body.update(changes)
    return {"type": "NetAssetsReported", "data": json.dumps({k: v for k, v in body.items() if v})}


POISON: dict[str, tuple[dict[Any, Any], str]] = {
    "malformed JSON": ({"type": "NetAssetsReported", "data": '{"report_id": "r1",'}, "data:"),
    "missing field": (_data(net_assets=None), "net_assets"),
    "float amount": (_data(net_assets=1.5), "net_assets"),
    "wrong type": (_data(accrual_days="many"), "accrual_days"),
    "extra field": (_data(surprise="x"), "surprise"),
    "negative net assets": (_data(net_assets="-100.00"), "net_assets"),
    "unknown type": ({"type": "Hello", "data": json.dumps({"type": "Hello"})}, "type:"),
    "output type on input": ({**_data(type="FeeAccrued"), "type": "FeeAccrued"}, "type:"),
    "malformed portfolio id": (_data(portfolio_id="no such fund"), "portfolio_id"),
    "one megabyte": (_data(report_id="x" * 1_048_576), "bytes exceeds"),
    "non-ASCII header": ({**_data(), "naïve": "1"}, "field name"),
    "invalid UTF-8 value": ({b"type": b"NetAssetsReported", b"data": b"\xff\xfe"}, "UTF-8"),
    "no data field": ({"type": "NetAssetsReported"}, "data: missing"),
    "unknown portfolio": (
        _data(portfolio_id="UNKNOWN-FUND"),
        "portfolio_id: 'UNKNOWN-FUND' is on no recorded agreement",
    ),
}


async def test_poison_entries_go_to_dead_letters_and_good_ones_around_them_accrue(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    ids: dict[str, str] = {}
    for i, (name, (fields, _)) in enumerate(POISON.items()):
        redis_client.xadd(keys.net_assets, _good(DAYS[i]))
        ids[name] = redis_client.xadd(keys.net_assets, fields).decode()  # type: ignore[union-attr]
    redis_client.xadd(keys.net_assets, _good(DAYS[len(POISON)]))
    async with running_worker(settings_for(redis_url, prefix, batch_size=7)):
        await await_for(lambda: redis_client.xlen(keys.dead_letters) >= len(POISON))
        await await_for(lambda: redis_client.xlen(keys.accruals) >= len(POISON) + 1)
        await await_for(lambda: not redis_client.xpending(keys.net_assets, "fee-worker")["pending"])
    letters = {e["entry_id"]: e for e in events(redis_client, keys.dead_letters)}
    assert len(letters) == len(POISON)
    for name, (_, needle) in POISON.items():
        letter = letters[ids[name]]
        assert needle in letter["reason"], (name, letter["reason"])
        assert letter["source_stream"] == keys.net_assets
        assert letter["fields"], name
    assert "must not be negative" in letters[ids["negative net assets"]]["reason"]
    assert "[cut:" in letters[ids["one megabyte"]]["fields"]["data"]
    accrued = events(redis_client, keys.accruals)
    assert [e["as_of"] for e in accrued] == [d.isoformat() for d in DAYS[: len(POISON) + 1]]
    assert accrued[0]["net_assets"] == "500000000"  # "5E+8" travels as plain digits
    assert redis_client.hlen(keys.unpriced) == 0


async def test_own_pending_and_idle_entries_of_a_dead_consumer_are_recovered(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    redis_client.xgroup_create(keys.net_assets, "fee-worker", id="0", mkstream=True)
    for day in DAYS[:6]:
        report(redis_client, keys, "P1", day, assets_on(day))
    # w1 (this worker, before a crash) took 2; ghost (dead) took 2 and retried them 5 times.
    redis_client.xreadgroup("fee-worker", "w1", {keys.net_assets: ">"}, count=2)
    redis_client.xreadgroup("fee-worker", "ghost", {keys.net_assets: ">"}, count=2)
    for _ in range(5):
        redis_client.xreadgroup("fee-worker", "ghost", {keys.net_assets: "0"}, count=1)
    redis_client.xreadgroup("fee-worker", "ghost", {keys.net_assets: ">"}, count=1)
    # Entry 6 is never read by anyone before the worker starts.
    async with running_worker(settings_for(redis_url, prefix, claim_idle_ms=200)):
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 5, timeout=10)
        await await_for(lambda: not redis_client.xpending(keys.net_assets, "fee-worker")["pending"])
    accrued = sorted(e["as_of"] for e in events(redis_client, keys.accruals))
    letters = events(redis_client, keys.dead_letters)
    # The entry ghost retried past max_deliveries is dead-lettered; every other one accrues.
    assert len(letters) == 1
    assert "max_deliveries" in letters[0]["reason"]
    assert letters[0]["deliveries"] > 5
    assert accrued == sorted(d.isoformat() for d in DAYS[:6] if d != DAYS[2])


async def test_the_accruals_command_finds_a_portfolio_by_any_name_it_has_had(
    redis_url: str, prefix: str, redis_client: redis.Redis, feeschedule: Feeschedule
) -> None:
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)  # P1, named "Fund P1"
    async with running_worker(settings_for(redis_url, prefix)):
        for day in DAYS[:3]:
            report(redis_client, keys, "P1", day, assets_on(day))
        await await_for(lambda: redis_client.xlen(keys.accruals) >= 3)
    window = ("--from", DAYS[0].isoformat(), "--to", DAYS[2].isoformat(), "--json")

    by_id = json.loads(feeschedule.ok("accruals", "P1", *window))
    by_name = json.loads(feeschedule.ok("accruals", "fund  p1", *window))  # found by a replay
    assert by_name == by_id and len(by_id["entries"]) == 3
    feeschedule.ok("projector", "rebuild")
    assert json.loads(feeschedule.ok("accruals", "Fund P1", *window)) == by_id  # read model

    unknown = feeschedule("accruals", "Fund P2", *window)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "error: portfolio: 'Fund P2' is not a portfolio id or name in the log"
    )


async def test_a_dead_consumers_invoices_and_commands_are_claimed_while_the_worker_runs(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    """Not only at start: a worker that is running takes over the invoices and close commands
    a dead consumer read and never settled, as it does its net-asset reports."""
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    invoice = InvoiceReceived(
        invoice_id="INV-1", agreement_id="AG-1", portfolio_id="P1", month="2024-01", amount="9"
    )
    command = CloseMonthRequested(request_id="CLOSE-1", month="2024-01", portfolio_id="P1")
    async with running_worker(settings_for(redis_url, prefix, claim_idle_ms=200)):
        for stream, group, message in (
            (keys.invoices, Keys.invoice_group, invoice),
            (keys.commands, Keys.command_group, command),
        ):
            # Appended and read by the ghost in one transaction: the running worker, blocked
            # on the stream, is served after it and finds nothing new.
            pipe = redis_client.pipeline(transaction=True)
            pipe.xadd(stream, encode(message))
            pipe.xreadgroup(group, "ghost", {stream: ">"}, count=1)
            _, read = pipe.execute()
            assert read, stream  # the ghost holds it, unacknowledged
        await await_for(
            lambda: (
                not redis_client.xpending(keys.invoices, Keys.invoice_group)["pending"]
                and not redis_client.xpending(keys.commands, Keys.command_group)["pending"]
            ),
            timeout=10,
        )
    refused = [e for e in events(redis_client, keys.accruals) if e["_type"] == "MonthCloseRefused"]
    assert [e["request_id"] for e in refused] == ["CLOSE-1"]  # January has no report yet
    # The invoice waits for its month's close.
    assert redis_client.hexists(keys.invoices_waiting, invoice_field("P1", "2024-01", "INV-1"))


async def test_a_recovered_invoice_published_by_faststream_reaches_its_portfolios_partition(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    """An invoice FastStream published (its binary envelope), read by a consumer that died, on
    the partition stream of another portfolio: claimed, read through its envelope as a live
    one is, and settled in its portfolio's partition."""
    keys = Keys(prefix)
    register(redis_client, keys)
    amend(redis_client, keys, 1, START, TIERS_A)
    home = partition_of("P1", 2)
    wrong = keys.lane(1 - home)
    invoice = InvoiceReceived(
        invoice_id="INV-1", agreement_id="AG-1", portfolio_id="P1", month="2024-01", amount="9"
    )
    body = json.loads(invoice.model_dump_json(by_alias=True))
    raw = await BinaryMessageFormatV1.encode(
        message=body, reply_to=None, headers=None, correlation_id="c-1"
    )
    redis_client.xgroup_create(wrong.invoices, Keys.invoice_group, id="0", mkstream=True)
    redis_client.xadd(wrong.invoices, {b"__data__": raw})
    redis_client.xreadgroup(Keys.invoice_group, "ghost", {wrong.invoices: ">"}, count=1)
    async with running_worker(settings_for(redis_url, prefix, partitions=2, claim_idle_ms=0)):
        waiting = keys.lane(home).invoices_waiting
        await await_for(lambda: redis_client.hlen(waiting) == 1, timeout=10)
    assert redis_client.hexists(
        keys.lane(home).invoices_waiting, invoice_field("P1", "2024-01", "INV-1")
    )
    assert not redis_client.exists(wrong.invoices_waiting)


async def test_group_days_due_are_looked_for_every_tenth_of_the_wait(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Looking reads every parked report; an idle worker passes every block_ms (50 ms here), and
    # with a wait of a minute looks once in its first 1.5 s, not at each of its 30 passes.
    from services.fee_worker import service

    looked: list[float] = []
    original = service.price_provisionally

    async def counted(*args: Any) -> Any:
        looked.append(asyncio.get_running_loop().time())
        return await original(*args)

    monkeypatch.setattr(service, "price_provisionally", counted)
    for wait_ms, least, most in ((60_000, 1, 1), (1_000, 5, 30)):
        looked.clear()
        async with running_worker(settings_for(redis_url, prefix, group_wait_ms=wait_ms)):
            await asyncio.sleep(1.5)
        assert least <= len(looked) <= most, (wait_ms, looked)
        gaps = [b - a for a, b in pairwise(looked)]
        assert all(gap >= wait_ms / 1000 / 10 - 0.01 for gap in gaps), (wait_ms, gaps)
