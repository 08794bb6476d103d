"""The chaos suite's verdict (benchmarks/chaos_verdict.py) finds what it is there to find: an
outcome the service got right counts nothing, and each fault, seeded alone into it, is counted
once under its own name. The e2e chaos test asserts the counts are 0; these show a 0 means it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from benchmarks.chaos_inputs import P6, PORTFOLIOS, Plan, Report, Schedules, period_fee
from benchmarks.chaos_inputs import report_entry as entry_of
from benchmarks.chaos_verdict import FIVE, Observed, Verdict, judge

SOURCE = "net-assets"
PRICED = Report("r1", PORTFOLIOS[1], date(2020, 3, 2), "123456789.01", 1, 0)
HELD = Report("r2", P6, date(2020, 3, 2), "5000000.00", 1, 0)  # P6 has no schedule before July


def fee(r: Report) -> Decimal:
    return period_fee(Schedules().period(r.portfolio_id, r.as_of, 1), Decimal(r.net_assets))


def plan() -> Plan:
    entries = [entry_of(PRICED, "good", "plain"), entry_of(HELD, "good", "plain")]
    for i, e in enumerate(entries, start=1):
        e.entry_id = f"{i}-0"
    return Plan(entries, [], [PRICED, HELD])


def accrued(r: Report, amount: Decimal) -> dict[str, Any]:
    aid = f"{r.portfolio_id}:{r.as_of}"
    return {"accrual_id": aid, "amount": str(amount), "report_id": r.report_id, "revision": 0}


def ledger_entry(r: Report, amount: Decimal) -> str:
    shown = {"amount": str(amount), "report_id": r.report_id, "revision": r.revision}
    return json.dumps(shown | {"net_assets": r.net_assets, "accrual_days": r.accrual_days})


def right() -> Observed:
    """What the service leaves for the plan: PRICED accrued at its fee, HELD parked."""
    day = PRICED.as_of.isoformat()
    held = {"report_id": HELD.report_id, "revision": HELD.revision}
    return Observed(
        inputs=["1-0", "2-0"],
        events=[
            ("FeeAccrued", accrued(PRICED, fee(PRICED))),
            ("ReportHeld", {"entry_id": "2-0", "code": "no_schedule"}),
        ],
        ledgers={PRICED.portfolio_id: {day: ledger_entry(PRICED, fee(PRICED))}},
        unpriced={f"{P6}|{HELD.as_of}": json.dumps(held)},
    )


def counted(observed: Observed) -> dict[str, int]:
    verdict: Verdict = judge(plan(), observed, SOURCE)
    return {name: n for name, n in verdict.counts.items() if n}


def test_the_right_outcome_counts_nothing() -> None:
    verdict = judge(plan(), right(), SOURCE)
    assert verdict.clean and verdict.counts == dict.fromkeys(FIVE, 0)
    assert verdict.info["dates_expected_priced"] == verdict.info["dates_expected_held"] == 1


def test_a_fee_accrued_twice_is_duplicated() -> None:
    observed = right()
    observed.events.append(observed.events[0])
    assert counted(observed) == {"duplicated": 1}


def test_a_missing_ledger_entry_and_a_missing_parked_report_are_lost() -> None:
    assert counted(replace(right(), ledgers={})) == {"lost": 1}
    held_gone = replace(right(), unpriced={})
    assert counted(held_gone) == {"lost": 1}


@pytest.mark.parametrize("off", [Decimal("0.01"), Decimal("-0.01")])
def test_a_cent_off_in_the_ledger_or_the_events_is_wrong(off: Decimal) -> None:
    day = PRICED.as_of.isoformat()
    in_ledger = {PRICED.portfolio_id: {day: ledger_entry(PRICED, fee(PRICED) + off)}}
    assert counted(replace(right(), ledgers=in_ledger)) == {"wrong": 1}
    in_events = right()
    in_events.events[0] = ("FeeAccrued", accrued(PRICED, fee(PRICED) + off))
    assert counted(in_events) == {"wrong": 1}


def test_an_accrual_for_a_date_no_report_names_is_wrong() -> None:
    observed = right()
    observed.ledgers[PRICED.portfolio_id]["2020-03-03"] = ledger_entry(PRICED, fee(PRICED))
    assert counted(observed) == {"wrong": 1}


def test_a_good_report_in_the_dead_letters_is_counted() -> None:
    observed = right()
    observed.events.append(("DeadLetter", {"entry_id": "1-0", "code": "invalid", "reason": "x"}))
    assert counted(observed) == {"dead_lettered_good": 1}


def test_an_entry_with_no_outcome_or_two_is_untraced() -> None:
    no_fee = right()
    no_fee.events[0] = ("FeeAccrued", accrued(PRICED, fee(PRICED)) | {"revision": 5})
    assert counted(no_fee) == {"untraced": 1}
    twice = right()
    twice.events.append(("ReportIgnored", {"entry_id": "2-0", "code": "duplicate"}))
    assert counted(twice) == {"untraced": 1}
