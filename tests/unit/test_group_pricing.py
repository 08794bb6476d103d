"""Pricing a group's day (issue 14, item 2) on the in-memory ledger through the fee worker's
handlers: the members' reports wait until every one is in, then each member accrues its share
of the fee on their combined assets; a revised report, a retroactive change to the group's tiers
and a member that leaves are each priced as the group's schedule says. Amounts are computed
here, by hand."""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from contracts.messages import AmendmentRecorded, NetAssetsReported
from contracts.wire import encode
from services.app.accruals import statement
from services.app.settling import price_provisionally
from tests.pricing_world import Entry, World

TIERS = [
    {"from": "0", "to": "1000000000", "rate_pct": "0.75"},
    {"from": "1000000000", "to": None, "rate_pct": "0.70"},
]
FLAT = [{"from": "0", "to": None, "rate_pct": "0.80"}]
DAY = date(2024, 3, 4)
NAVS = {"P1": "400000000", "P2": "500000000", "P3": "300000000"}


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def group_fee(combined: Decimal, tiers: list[dict[str, Any]] = TIERS) -> Decimal:
    """One day of the group's schedule on its combined assets (ACT/365F), to the cent."""
    with localcontext() as ctx:
        ctx.prec = 60
        annual = Decimal(0)
        for t in tiers:
            top = combined if t["to"] is None else min(combined, Decimal(t["to"]))
            annual += max(top - Decimal(t["from"]), Decimal(0)) * Decimal(t["rate_pct"]) / 100
        return cents(annual / 365)


def amend(w: World, number: int, effective: str, changes: list[dict[str, Any]]) -> None:
    w.log(
        AmendmentRecorded.model_validate(
            {
                "agreement_id": "AG",
                "amendment_number": number,
                "effective_date": effective,
                "changes": changes,
            }
        )
    )


def group(members: list[str], tiers: list[dict[str, Any]] = TIERS) -> dict[str, Any]:
    return {"action": "group", "group_id": "G", "members": members, "tiers": tiers}


def report(
    w: World, pid: str, nav: str, day: date = DAY, revision: int = 0, days: int = 1
) -> Entry:
    w.entries += 1
    message = NetAssetsReported(
        report_id=f"{pid}-{day}",
        portfolio_id=pid,
        as_of=day,
        net_assets=Decimal(nav),
        revision=revision,
        accrual_days=days,
    )
    return Entry(f"{w.entries}-0", {k.encode(): v.encode() for k, v in encode(message).items()})


async def group_world() -> World:
    w = World()
    amend(w, 1, "2024-01-01", [group(sorted(NAVS))])
    await w.advance()
    return w


def amounts(w: World, day: date = DAY) -> dict[str, Decimal]:
    out = {}
    for pid, ledger in w.ledger.ledgers.items():
        if day.isoformat() in ledger:
            out[pid] = Decimal(json.loads(ledger[day.isoformat()])["amount"])
    return out


async def test_the_day_waits_for_every_member_then_each_accrues_its_share() -> None:
    w = await group_world()
    for pid in ("P2", "P1"):
        await w.settle([report(w, pid, NAVS[pid])])
    held = [e for e in w.events("report_outcomes") if e["_type"] == "ReportHeld"]
    assert [e["code"] for e in held] == ["group_incomplete", "group_incomplete"]
    assert "P3" in held[1]["reason"] and amounts(w) == {}
    await w.settle([report(w, "P3", NAVS["P3"])])
    shares = amounts(w)
    assert sorted(shares) == ["P1", "P2", "P3"]
    assert sum(shares.values()) == group_fee(Decimal(1_200_000_000))
    # Each share within a cent of its assets' part of the group's exact fee.
    exact = group_fee(Decimal(1_200_000_000))
    for pid, nav in NAVS.items():
        assert abs(shares[pid] - exact * Decimal(nav) / 1_200_000_000) < Decimal("0.01")
    assert w.ledger.unpriced == {}
    assert len([e for e in w.events("accruals") if e["_type"] == "FeeAccrued"]) == 3
    # The accruals statement shows each member's day with the group's assets beside its own.
    (entry,) = statement("P2", w.ledger.ledgers["P2"], [], DAY, DAY).entries
    assert entry.group == NAVS and entry.net_assets == NAVS["P2"]


async def test_a_revised_members_report_adjusts_every_members_share() -> None:
    w = await group_world()
    await w.settle([report(w, pid, nav) for pid, nav in NAVS.items()])
    await w.settle([report(w, "P3", "900000000", revision=1)])
    adjusted = [e for e in w.events("accruals") if e["_type"] == "FeeAdjusted"]
    assert sorted(e["portfolio_id"] for e in adjusted) == ["P1", "P2", "P3"]
    assert sum(amounts(w).values()) == group_fee(Decimal(1_800_000_000))


async def test_a_retroactive_change_to_the_groups_tiers_adjusts_every_member() -> None:
    w = await group_world()
    await w.settle([report(w, pid, nav) for pid, nav in NAVS.items()])
    cheaper = [dict(t, rate_pct="0.50") for t in TIERS]
    amend(w, 2, "2024-03-01", [group(sorted(NAVS), cheaper)])
    await w.advance()
    adjusted = [e for e in w.events("accruals") if e["_type"] == "FeeAdjusted"]
    assert sorted(e["portfolio_id"] for e in adjusted) == ["P1", "P2", "P3"]
    assert sum(amounts(w).values()) == group_fee(Decimal(1_200_000_000), cheaper)


async def test_a_member_that_leaves_is_priced_on_its_own_schedule_from_that_date() -> None:
    w = await group_world()
    leaves = {"action": "revise", "portfolio_id": "P3", "portfolio_name": "P3", "tiers": FLAT}
    amend(w, 2, "2024-03-04", [group(["P1", "P2"]), leaves])
    await w.advance()
    await w.settle([report(w, pid, nav) for pid, nav in NAVS.items()])
    shares = amounts(w)
    assert shares["P1"] + shares["P2"] == group_fee(Decimal(900_000_000))
    assert shares["P3"] == cents(Decimal(300_000_000) * Decimal("0.008") / 365)


async def test_members_reporting_different_periods_for_a_day_are_refused() -> None:
    w = await group_world()
    await w.settle([report(w, "P1", NAVS["P1"]), report(w, "P2", NAVS["P2"])])
    await w.settle([report(w, "P3", NAVS["P3"], days=3)])
    (letter,) = w.events("dead_letters")
    assert "accrual_days" in letter["reason"] and amounts(w) == {}


async def test_a_day_that_waited_is_priced_provisionally_and_the_late_report_adjusts_all() -> None:
    w = await group_world()
    await w.settle([report(w, "P1", NAVS["P1"]), report(w, "P2", NAVS["P2"])])
    checkpoint = await w.ledger.checkpoint()
    result, written = await price_provisionally(w.pricer, w.ledger, checkpoint, lambda r: True)
    assert (result.status, written) == ("ok", 2)
    provisional = [e for e in w.events("accruals") if e["_type"] == "FeeAccrued"]
    assert [e["provisional"] for e in provisional] == [["P3"], ["P3"]]
    assert sum(amounts(w).values()) == group_fee(Decimal(900_000_000))
    # Nothing is priced twice.
    assert (await price_provisionally(w.pricer, w.ledger, checkpoint, lambda r: True))[1] == 0
    await w.settle([report(w, "P3", NAVS["P3"])])
    adjusted = [e for e in w.events("accruals") if e["_type"] == "FeeAdjusted"]
    assert sorted(e["portfolio_id"] for e in adjusted) == ["P1", "P2"]  # each exactly once
    assert sum(amounts(w).values()) == group_fee(Decimal(1_200_000_000))
    assert all("provisional" not in json.loads(t) for t in w.ledger.ledgers["P1"].values())


async def test_provisional_pricing_passes_over_reports_no_group_waits_for_unread() -> None:
    """A report parked until its own schedule starts is no group's: its text is never read
    (here it could not be), however many such wait."""
    w = await group_world()
    nine = {"action": "add", "portfolio_id": "P9", "portfolio_name": "Nine", "tiers": FLAT}
    amend(w, 2, "2024-06-01", [nine])
    await w.advance()
    await w.settle([report(w, "P1", NAVS["P1"]), report(w, "P2", NAVS["P2"])])
    await w.settle([report(w, "P9", "100000000")])
    assert [n for n in w.ledger.unpriced if n.startswith("P9|")] == [f"P9|{DAY}"]
    w.ledger.unpriced[f"P9|{DAY}"] = "not a report"
    checkpoint = await w.ledger.checkpoint()
    result, written = await price_provisionally(w.pricer, w.ledger, checkpoint, lambda r: True)
    assert (result.status, written) == ("ok", 2)
    assert w.ledger.unpriced[f"P9|{DAY}"] == "not a report"


async def test_a_day_not_yet_due_keeps_waiting() -> None:
    w = await group_world()
    await w.settle([report(w, "P1", NAVS["P1"])])
    checkpoint = await w.ledger.checkpoint()
    assert (await price_provisionally(w.pricer, w.ledger, checkpoint, lambda r: False))[1] == 0
    assert amounts(w) == {} and len(w.ledger.unpriced) == 1


async def test_a_group_recorded_over_days_its_members_priced_alone_reprices_them_as_its() -> None:
    # Each member on its own schedule first, its day priced alone; then the group is recorded
    # from March 1: the day becomes the group's, and every member's accrual is adjusted to its
    # share of the fee on the combined assets (the amendment's doing, not a revised report).
    w = World()
    own = [{"action": "add", "portfolio_id": p, "portfolio_name": p, "tiers": TIERS} for p in NAVS]
    amend(w, 1, "2024-01-01", own)
    await w.advance()
    await w.settle([report(w, pid, nav) for pid, nav in NAVS.items()])
    alone = amounts(w)
    assert alone == {p: group_fee(Decimal(nav)) for p, nav in NAVS.items()}
    amend(w, 2, "2024-03-01", [group(sorted(NAVS))])
    await w.advance()
    adjusted = [e for e in w.events("accruals") if e["_type"] == "FeeAdjusted"]
    assert sorted(e["portfolio_id"] for e in adjusted) == ["P1", "P2", "P3"]
    assert {e["reason"] for e in adjusted} == {"amendment"}
    shares = amounts(w)
    assert sum(shares.values()) == group_fee(Decimal(1_200_000_000))
    exact = group_fee(Decimal(1_200_000_000))
    for pid, nav in NAVS.items():
        assert abs(shares[pid] - exact * Decimal(nav) / 1_200_000_000) < Decimal("0.01")
    (entry,) = statement("P1", w.ledger.ledgers["P1"], [], DAY, DAY).entries
    assert entry.group == NAVS
    await w.advance()  # nothing more to do: adjusted once
    assert len([e for e in w.events("accruals") if e["_type"] == "FeeAdjusted"]) == 3


async def two_partitions_priced_alone() -> tuple[World, World]:
    """Two partitions, each with its own book of the same log and reading the other's ledgers:
    P1 and P2 priced alone in the first, P3 in the second."""
    first, second = World(), World()
    first.ledger.elsewhere, second.ledger.elsewhere = [second.ledger], [first.ledger]
    own = [{"action": "add", "portfolio_id": p, "portfolio_name": p, "tiers": TIERS} for p in NAVS]
    for w in (first, second):
        amend(w, 1, "2024-01-01", own)
        await w.advance()
    await first.settle([report(first, p, NAVS[p]) for p in ("P1", "P2")])
    await second.settle([report(second, "P3", NAVS["P3"])])
    return first, second


async def test_a_group_recorded_over_days_priced_in_two_partitions_reprices_every_member() -> None:
    # Two partitions, each with its own book of the same log: P1 and P2 priced alone in the
    # first, P3 in the second. Each partition's catch-up reprices its own members' day as the
    # group's, reading the other members' net assets from the other partition.
    first, second = await two_partitions_priced_alone()
    for w in (first, second):
        amend(w, 2, "2024-03-01", [group(sorted(NAVS))])
        await w.advance()
    shares = amounts(first) | amounts(second)
    assert sorted(amounts(first)) == ["P1", "P2"] and sorted(amounts(second)) == ["P3"]
    assert sum(shares.values()) == group_fee(Decimal(1_200_000_000))
    exact = group_fee(Decimal(1_200_000_000))
    for pid, nav in NAVS.items():
        assert abs(shares[pid] - exact * Decimal(nav) / 1_200_000_000) < Decimal("0.01")
    adjusted = [e for w in (first, second) for e in w.events("accruals")]
    adjusted = [e for e in adjusted if e["_type"] == "FeeAdjusted"]
    assert sorted(e["portfolio_id"] for e in adjusted) == ["P1", "P2", "P3"]
    assert {e["reason"] for e in adjusted} == {"amendment"}


async def test_only_a_day_made_a_groups_reads_the_other_partitions() -> None:
    # What a partition reads elsewhere: the members it lacks for days priced alone that the
    # log now makes a group's; once those days are the group's, a change of its tiers reads
    # nothing elsewhere (the members' assets are in each entry).
    first, second = await two_partitions_priced_alone()

    async def wanted(w: World) -> list[str]:
        affected = w.pricer.affected(await w.ledger.checkpoint())
        return w.pricer.members_elsewhere(affected, await w.ledger.read_ledgers(affected))

    for w in (first, second):
        amend(w, 2, "2024-03-01", [group(sorted(NAVS))])
    assert (await wanted(first), await wanted(second)) == (["P3"], ["P1", "P2"])
    for w in (first, second):
        await w.advance()
        amend(w, 3, "2024-03-01", [group(sorted(NAVS), FLAT)])
    assert (await wanted(first), await wanted(second)) == ([], [])
    for w in (first, second):
        await w.advance()
    assert sum((amounts(first) | amounts(second)).values()) == group_fee(
        Decimal(1_200_000_000), FLAT
    )
