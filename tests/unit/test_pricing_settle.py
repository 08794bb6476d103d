"""Pricing settled through the ledger port, with no Redis: the pricer's plans applied by the
in-memory ledger (the twin of settle.lua, tests/ledger_port_cases.py) via the handlers the fee
worker calls (`settle_entries`, `advance_ledger`).

What is checked is what a consumer sees: ledger amounts, the events emitted and the entries
left pending.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal

import pytest

from contracts.messages import (
    AmendmentRecorded,
    AmendmentRetracted,
    NetAssetsReported,
)
from contracts.wire import encode
from services.app.accruals import statement
from tests.pricing_world import JAN, RATE_1, RATE_2, Entry, World, fee


async def world() -> World:
    w = World()
    w.amend(1, JAN[0], RATE_1, "add")
    await w.advance()
    return w


async def test_a_redelivered_batch_changes_nothing_the_second_time() -> None:
    w = await world()
    batch = [
        w.report(JAN[1], "600000000"),
        w.report(JAN[2], "700000000"),
        w.report(date(2023, 12, 31), "650000000"),  # before any schedule: waits
        Entry("poison", {b"data": b"{}"}),
    ]
    await w.settle(batch)
    assert w.amounts() == {"2024-01-02": Decimal("14794.52"), "2024-01-03": Decimal("17260.27")}
    accrued = w.events("accruals")
    assert [(e["_type"], e["as_of"], e["amount"]) for e in accrued] == [
        ("FeeAccrued", "2024-01-02", "14794.52"),
        ("FeeAccrued", "2024-01-03", "17260.27"),
    ]
    assert [e["code"] for e in w.events("report_outcomes")] == ["no_schedule"]
    assert [e["entry_id"] for e in w.events("dead_letters")] == ["poison"]
    assert set(w.ledger.unpriced) == {"P1|2023-12-31"}
    assert w.ledger.pending == set()

    before = copy.deepcopy((w.ledger.ledgers, w.ledger.unpriced, w.ledger.streams))
    await w.settle(batch, delivered=False)  # settled already (say, by a worker that claimed it)
    assert (w.ledger.ledgers, w.ledger.unpriced, w.ledger.streams) == before


async def test_of_two_reports_of_a_date_the_higher_revision_wins() -> None:
    w = await world()
    day = JAN[1]
    await w.settle([w.report(day, "600000000", revision=1)])
    await w.settle(
        [
            w.report(day, "650000000", revision=0),  # older
            w.report(day, "600000000", revision=1),  # the same report again
            w.report(day, "620000000", revision=1),  # same revision, other content
            w.report(day, "610000000", revision=2),  # supersedes
        ]
    )
    first, new = fee(RATE_1, "600000000", day), fee(RATE_1, "610000000", day)
    entry = w.entry(day)
    assert (entry.revision, entry.net_assets, Decimal(entry.amount)) == (2, "610000000", new)
    assert Decimal(entry.accrued) == first
    assert [(a["reason"], Decimal(a["delta"])) for a in entry.adjustments] == [
        ("revised_report", new - first)
    ]
    (adjusted,) = [e for e in w.events("accruals") if e["_type"] == "FeeAdjusted"]
    assert adjusted["reason"] == "revised_report" and adjusted["revision"] == 2
    assert Decimal(adjusted["previous_amount"]) == first
    assert Decimal(adjusted["new_amount"]) == new
    assert [(e["code"], e["held_revision"]) for e in w.events("report_outcomes")] == [
        ("older_revision", 1),
        ("duplicate", 1),
        ("same_revision_different_content", 1),
    ]
    assert w.ledger.pending == set()


async def test_reports_of_a_date_in_one_batch_are_judged_in_order() -> None:
    w = await world()
    await w.settle(
        [
            w.report(JAN[1], "600000000", revision=0),
            w.report(JAN[1], "640000000", revision=3),  # revises the accrual just made
            w.report(JAN[2], "640000000", revision=3),
            w.report(JAN[2], "600000000", revision=0),  # older than what it follows
        ]
    )
    assert w.amounts() == {
        "2024-01-02": fee(RATE_1, "640000000", JAN[1]),
        "2024-01-03": fee(RATE_1, "640000000", JAN[2]),
    }
    kinds = [(e["_type"], e["as_of"]) for e in w.events("accruals")]
    assert kinds == [
        ("FeeAccrued", "2024-01-02"),
        ("FeeAccrued", "2024-01-03"),
        ("FeeAdjusted", "2024-01-02"),
    ]
    assert [e["code"] for e in w.events("report_outcomes")] == ["older_revision"]


async def test_an_amendment_recorded_after_accruals_adjusts_the_dates_it_changes() -> None:
    w = await world()
    await w.settle([w.report(day, "600000000") for day in JAN[1:5]])  # Jan 2..5
    w.amend(2, JAN[3], RATE_2, "revise")  # 0.50% from Jan 4, recorded late
    assert await w.advance() == 2
    assert await w.ledger.checkpoint() == f"{w.position}-0"
    assert w.amounts() == {
        d.isoformat(): fee(RATE_2 if d >= JAN[3] else RATE_1, "600000000", d) for d in JAN[1:5]
    }
    adjusted = [e for e in w.events("accruals") if e["_type"] == "FeeAdjusted"]
    assert [(e["as_of"], e["reason"]) for e in adjusted] == [
        ("2024-01-04", "amendment"),
        ("2024-01-05", "amendment"),
    ]
    for e in adjusted:
        day = date.fromisoformat(e["as_of"])
        assert Decimal(e["delta"]) == fee(RATE_2, "600000000", day) - fee(RATE_1, "600000000", day)
        assert e["schedule_ref"]["amendment_number"] == 2
        assert e["previous_schedule_ref"]["amendment_number"] == 1
    assert w.entry(JAN[3]).adjustments[0]["reason"] == "amendment"
    assert w.entry(JAN[2]).adjustments == ()
    assert await w.advance() == 0  # nothing new: nothing adjusted twice


async def test_a_retraction_adjusts_back_with_reason_retraction() -> None:
    w = await world()
    w.amend(2, JAN[3], RATE_2, "revise")
    await w.advance()
    await w.settle([w.report(day, "600000000") for day in JAN[1:5]])
    w.log(AmendmentRetracted(agreement_id="AG", amendment_number=2, reason="signed in error"))
    assert await w.advance() == 2
    assert w.amounts() == {d.isoformat(): fee(RATE_1, "600000000", d) for d in JAN[1:5]}
    adjusted = [e for e in w.events("accruals") if e["_type"] == "FeeAdjusted"]
    assert [(e["as_of"], e["reason"]) for e in adjusted] == [
        ("2024-01-04", "retraction"),
        ("2024-01-05", "retraction"),
    ]
    assert all(e["schedule_ref"]["amendment_number"] == 1 for e in adjusted)


async def test_a_waiting_report_is_priced_once_a_schedule_covers_its_date() -> None:
    w = await world()
    early = date(2023, 12, 30)
    await w.settle([w.report(early, "600000000")])
    assert w.amounts() == {} and set(w.ledger.unpriced) == {"P1|2023-12-30"}
    w.amend(2, date(2023, 12, 1), RATE_2, "add")
    assert await w.advance() == 1
    assert w.amounts() == {"2023-12-30": fee(RATE_2, "600000000", early)}
    assert w.ledger.unpriced == {}
    assert [e["_type"] for e in w.events("accruals")] == ["FeeAccrued"]


async def test_a_parked_report_taken_away_meanwhile_is_parked_again_not_an_error() -> None:
    w = await world()
    december = date(2023, 12, 31)  # before any schedule: the report waits
    await w.settle([w.report(december, "650000000")])
    parked = dict(w.ledger.unpriced)
    assert len(parked) == 1
    newer = w.report(december, "660000000", revision=1)
    ops = w.pricer.plan_batch([newer])
    w.ledger.pending.add(newer.entry_id)
    first = await w.ledger.settle(ops, await w.ledger.checkpoint())
    (conflict,) = first.conflicts
    assert conflict[1:] == ("unpriced", *parked.values())
    # Between this step and the next, the parked report leaves (say, an operator removed it).
    w.ledger.unpriced.clear()
    checkpoint = await w.ledger.checkpoint()
    second = await w.ledger.settle(w.pricer.resolve(first.conflicts), checkpoint)
    retry = w.pricer.resolve(second.conflicts)
    assert second.conflicts[0][1:] == ("unpriced", "")
    third = await w.ledger.settle(retry, checkpoint)
    assert third.status == "ok" and not third.conflicts
    (held,) = w.ledger.unpriced.values()
    assert json.loads(held)["revision"] == 1 and json.loads(held)["net_assets"] == "660000000"
    assert newer.entry_id not in w.ledger.pending


async def test_a_report_in_another_currency_than_the_agreements_is_dead_lettered() -> None:
    w = await world()
    euro = NetAssetsReported(
        report_id="eur", portfolio_id="P1", as_of=JAN[3], net_assets=Decimal(1), currency="EUR"
    )
    entry = Entry("9-0", {k.encode(): v.encode() for k, v in encode(euro).items()})
    await w.settle([entry])
    (letter,) = w.events("dead_letters")
    assert letter["code"] == "invalid_field" and letter["entry_id"] == "9-0"
    assert "'EUR'" in letter["reason"] and "USD" in letter["reason"]
    assert "2024-01-04" not in w.amounts()


async def test_a_waiver_says_gross_waived_and_net_and_gross_less_waived_is_net() -> None:
    w = await world()
    waiver = {
        "action": "waiver",
        "portfolio_id": "P1",
        "portfolio_name": "Fund One",
        "tiers": RATE_2,
        "period": {"start": "2024-01-05", "end": "2024-01-06"},
    }
    w.log(
        AmendmentRecorded.model_validate(
            {
                "agreement_id": "AG",
                "amendment_number": 2,
                "effective_date": date(2024, 1, 5),
                "changes": [waiver],
            }
        )
    )
    await w.advance()
    friday = w.report(JAN[4], "365000000")
    friday = Entry(
        friday.entry_id,
        {
            **friday.fields,
            b"data": friday.fields[b"data"].replace(b'"accrual_days":1', b'"accrual_days":3'),
        },
    )
    await w.settle([friday])
    (fee,) = w.events("accruals")
    # $365 million: 9,000 a day at 0.90%, 5,000 at 0.50%; the waiver covers Friday and Saturday.
    assert (fee["amount"], fee["gross_amount"], fee["waived_amount"]) == (
        "19000.00",
        "27000.00",
        "8000.00",
    )
    exact = Decimal(fee["gross_amount_exact"]) - Decimal(fee["waived_amount_exact"])
    assert exact == Decimal(fee["amount_exact"])
    assert fee["schedule_ref"]["waiver"] and not fee["gross_schedule_ref"]["waiver"]
    assert fee["gross_schedule_ref"]["amendment_number"] == 1
    entry = w.entry(JAN[4])
    assert (entry.amount, entry.gross, entry.waived) == ("19000.00", "27000.00", "8000.00")
    month = statement("P1", w.entry_texts(), [], JAN[0], JAN[-1]).months[0]
    assert (month["gross"], month["waived"], month["amount"]) == ("27000.00", "8000.00", "19000.00")


def weekend(w: World, day: date, days: int, revision: int = 0) -> Entry:
    """A report of `day` covering `days` days."""
    entry = w.report(day, "365000000", revision=revision, report_id=f"r-{day}")
    data = entry.fields[b"data"].replace(b'"accrual_days":1', f'"accrual_days":{days}'.encode())
    return Entry(entry.entry_id, {**entry.fields, b"data": data})


# Planned in batches (the default terms), or one by one on the ledger as read.
TERMS = [{}, {"fee_base": "prior_day"}, {"rounding": "ROUND_HALF_UP:0.01:month-to-date"}]


@pytest.mark.parametrize("terms", TERMS, ids=["same_day", "prior_day", "month-to-date"])
async def test_a_report_for_a_day_another_report_covers_is_dead_lettered_naming_both(
    terms: dict[str, str],
) -> None:
    w = World(**terms)
    w.amend(1, JAN[0], RATE_1, "add")
    await w.advance()
    thursday, friday, saturday = date(2024, 1, 4), date(2024, 1, 5), date(2024, 1, 6)
    await w.settle([weekend(w, friday, 3)])
    await w.settle([weekend(w, saturday, 1)])
    await w.settle([weekend(w, thursday, 2)])  # its period reaches Friday
    assert list(w.amounts()) == ["2024-01-05"]
    letter, before = w.events("dead_letters")
    assert "2024-01-04..2024-01-05 overlaps 2024-01-05..2024-01-07" in before["reason"]
    assert letter["code"] == "invalid_field"
    assert "2024-01-06..2024-01-06 overlaps 2024-01-05..2024-01-07" in letter["reason"]
    assert "'r-2024-01-05'" in letter["reason"]
    assert json.loads(letter["fields"]["data"])["as_of"] == "2024-01-06"  # nothing is lost


async def test_a_revision_that_shortens_a_period_frees_its_days_for_another_report() -> None:
    w = await world()
    friday, saturday = date(2024, 1, 5), date(2024, 1, 6)
    await w.settle([weekend(w, friday, 3)])
    await w.settle([weekend(w, friday, 1, revision=1)])
    assert w.entry(friday).accrual_days == 1 and w.amounts()["2024-01-05"] == Decimal("9000.00")
    await w.settle([weekend(w, saturday, 2)])
    assert w.amounts() == {"2024-01-05": Decimal("9000.00"), "2024-01-06": Decimal("18000.00")}
    assert w.events("dead_letters") == []
    # A revision reaching back over Saturday is refused in its turn, and changes nothing.
    await w.settle([weekend(w, friday, 2, revision=2)])
    (letter,) = w.events("dead_letters")
    assert "2024-01-05..2024-01-06 overlaps 2024-01-06..2024-01-07" in letter["reason"]
    assert w.entry(friday).revision == 1
